"""How the pages say a citizen's wait (bot.backoffice.waiting.Waits.waited)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.backoffice.waiting import Waits
from bot.text.i18n import Translator

MONDAY = date(2026, 6, 15)
SUNDAY = date(2026, 6, 14)


@pytest.mark.parametrize(
    ("since", "today", "language", "expected"),
    [
        (datetime(2026, 6, 15, 7, tzinfo=UTC), MONDAY, "fr", (0, "moins d’un jour ouvrable")),
        # on Sunday, since Saturday: no working day yet
        (datetime(2026, 6, 13, 9, tzinfo=UTC), SUNDAY, "nl", (0, "minder dan een werkdag")),
        (datetime(2026, 6, 13, 9, tzinfo=UTC), MONDAY, "fr", (1, "1 jour ouvrable")),
        (datetime(2026, 6, 10, 9, tzinfo=UTC), MONDAY, "nl", (3, "3 werkdagen")),
    ],
)
def test_a_wait_is_said_in_working_days(
    since: datetime, today: date, language: str, expected: tuple[int, str]
) -> None:
    assert Waits(today, 10).waited(Translator(language), since) == expected
