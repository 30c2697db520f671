"""The application's one clock: every "now" of the bot, the back-office and storage comes from here.

Times are stored in UTC and shown in Brussels time. Code that needs the time calls
`utcnow()` (or `brussels_today()`), or takes a `now` argument that defaults to it, so that a
test can fix the date once for everything running in its process (`use_clock`). Durations
measured for pacing and timeouts use `time.monotonic()` instead, and only its differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def utcnow() -> datetime:
    """The current moment, timezone-aware in UTC."""
    moment = _source()
    if moment.tzinfo is None:
        raise ValueError("the clock gave a naive datetime; it must be timezone-aware")
    return moment.astimezone(UTC)


def brussels_today() -> date:
    """Today's date in Brussels (the date a citizen or staff member sees on their calendar)."""
    return utcnow().astimezone(BRUSSELS).date()


@contextmanager
def use_clock(source: Callable[[], datetime]) -> Iterator[None]:
    """Run the block with `source` as the clock (a test's fixed or moving clock)."""
    global _source
    previous = _source
    _source = source
    try:
        yield
    finally:
        _source = previous
