"""Working days in Brussels (storage.workdays): weekends and Belgian public holidays."""

from __future__ import annotations

from datetime import date

from storage.workdays import overdue_before, working_days_waited


def test_weekends_and_public_holidays_are_not_counted() -> None:
    # Monday 2 November 2026 to Monday 16 November: 11 November (Armistice) is a holiday.
    assert working_days_waited(date(2026, 11, 2), date(2026, 11, 16)) == 9
    assert working_days_waited(date(2026, 11, 2), date(2026, 11, 2)) == 0
    assert working_days_waited(date(2026, 11, 6), date(2026, 11, 9)) == 1  # Friday → Monday
    assert working_days_waited(date(2026, 11, 9), date(2026, 11, 6)) == 0
    # Christmas and New Year's Day across the turn of the year.
    assert working_days_waited(date(2026, 12, 24), date(2027, 1, 4)) == 5


def test_overdue_means_more_working_days_than_the_delay() -> None:
    today = date(2026, 11, 16)
    cut = overdue_before(today, 10)
    assert cut == date(2026, 10, 30)
    for day in (date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 10)):
        assert (day < cut) == (working_days_waited(day, today) > 10), day
    # On a Saturday the delay counts from the Friday before.
    assert overdue_before(date(2026, 11, 14), 10) == date(2026, 10, 29)
    assert overdue_before(today, 0) == today
