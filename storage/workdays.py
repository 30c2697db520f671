"""Working days in Brussels: weekdays that are not Belgian public holidays.

The back-office's service delay is counted in working days (SERVICE_DELAY_DAYS): a
proposal whose citizen has waited longer than that is overdue. Holidays come from the
`holidays` package (Belgium's national public holidays); numpy counts the days.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
import numpy as np


@lru_cache(maxsize=16)
def _holidays(first_year: int, last_year: int) -> tuple[np.datetime64, ...]:
    days = holidays.country_holidays("BE", years=range(first_year, last_year + 1))
    return tuple(np.datetime64(day, "D") for day in sorted(days))


def _calendar(*days: date) -> tuple[np.datetime64, ...]:
    years = [day.year for day in days]
    return _holidays(min(years) - 1, max(years) + 1)


def working_days_waited(since: date, today: date) -> int:
    """The working days after `since` up to `today` included (0 on the same day)."""
    if today <= since:
        return 0
    return int(
        np.busday_count(
            since + timedelta(days=1), today + timedelta(days=1), holidays=_calendar(since, today)
        )
    )


def overdue_before(today: date, delay: int) -> date:
    """The first waiting day that is not overdue today: a citizen who has waited since an
    earlier day has waited more than `delay` working days."""
    day = np.busday_offset(
        np.datetime64(today, "D"), -delay, roll="backward", holidays=_calendar(today)
    )
    result: date = day.astype(date)
    return result
