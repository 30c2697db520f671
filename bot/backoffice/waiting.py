"""How long each citizen has waited for staff, in working days, and which waits are overdue
(longer than the service delay, SERVICE_DELAY_DAYS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aiohttp import web

from bot.backoffice.keys import SERVICE_DELAY
from bot.text.i18n import Translator
from storage.clock import BRUSSELS, brussels_today
from storage.models import Proposal
from storage.review import brussels_day_start
from storage.workdays import overdue_before, working_days_waited
from storage.workflow import OPEN_STATUSES, STAFF_TURN


@dataclass(frozen=True)
class Waits:
    today: date
    delay: int

    @classmethod
    def of(cls, request: web.Request) -> Waits:
        return cls(brussels_today(), request.app[SERVICE_DELAY])

    @property
    def overdue_from(self) -> datetime:
        """The UTC instant before which a wait for staff is overdue today."""
        return brussels_day_start(overdue_before(self.today, self.delay))

    def waited(self, t: Translator, since: datetime) -> tuple[int, str]:
        """The working days from `since` to today, and how the pages say it."""
        days = working_days_waited(since.astimezone(BRUSSELS).date(), self.today)
        if days == 0:  # since today, or since a day off with no working day after it
            return days, t.gettext("less than a working day")
        return days, t.ngettext("%(num)d working day", "%(num)d working days", days) % {"num": days}

    def of_proposal(self, t: Translator, proposal: Proposal) -> dict[str, Any]:
        """The wait as the lists show it: working days, since when, overdue or whose turn."""
        if proposal.status not in OPEN_STATUSES:
            return {"days": None, "label": "—", "since": None, "overdue": False, "citizen": False}
        days, label = self.waited(t, proposal.waiting_since)
        staff_turn = proposal.status in STAFF_TURN
        return {
            "days": days,
            "label": label,
            "since": t.datetime(proposal.waiting_since),
            "overdue": staff_turn and proposal.waiting_since < self.overdue_from,
            "citizen": not staff_turn,
        }
