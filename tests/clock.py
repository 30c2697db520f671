"""The tests' clock: every test runs on a fixed date, whatever day the suite runs on.

The application asks `storage.clock.utcnow()` for the time; `conftest.py` installs a
`MovingClock` for every test. It starts at `TEST_NOW` and moves on with real time (so that
retries, leases and timeouts still come due), and a test can move it (`set`).
Processes that an end-to-end test starts keep their own system clock: those tests read
the dates back instead of assuming them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

TEST_NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)
"""A Monday, 10:00 in Brussels (summer time)."""


class MovingClock:
    """A clock that starts at a given moment and then follows the monotonic clock."""

    def __init__(self, start: datetime = TEST_NOW) -> None:
        self._start = start
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def set(self, moment: datetime) -> None:
        """Jump to `moment`; the clock moves on from there."""
        self._start = moment
        self._started = time.monotonic()
