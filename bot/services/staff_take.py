"""The staff Telegram group's "take it" button (`STAFF_CHAT_ID`): a press records who took
the proposal, and the group's message is edited in place to say so.

The message itself (`bot.text.staff_summary`) is written to the outbox when the proposal is
submitted (`bot.services.announcements`); the press is one transaction, and the first taker
wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.text.i18n import Translator
from bot.text.staff_summary import TAKE_PREFIX, staff_summary
from storage.proposals import matched_initiative_names
from storage.workflow import take_proposal


@dataclass(frozen=True)
class TakeResult:
    toast: str
    text: str | None = None
    """The message's new text, when it changes."""


async def take(
    session: AsyncSession,
    data: str,
    taker: str,
    *,
    language: str,
    back_office_url: str,
) -> TakeResult:
    """A "take it" press: record the taker unless someone was first."""
    t = Translator(language)
    reference = data.removeprefix(TAKE_PREFIX)
    proposal, took = await take_proposal(session, reference, taker)
    if proposal is None:
        return TakeResult(t.gettext("This proposal no longer exists."))
    if not took:
        return TakeResult(t.gettext("Already taken by {name}.").format(name=proposal.taken_by))
    matched = await matched_initiative_names(session, proposal.id)
    text = staff_summary(proposal, language, back_office_url, matched)
    return TakeResult(t.gettext("It's yours. Thank you!"), text)
