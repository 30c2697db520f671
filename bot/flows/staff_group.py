"""The staff Telegram group (`STAFF_CHAT_ID`): a summary of each new proposal and its
"take it" button, which records who took the proposal and edits the message in place.

The summary is written to the outbox when the proposal is submitted (`bot.services.announcements`);
the button press is handled here, inside one transaction, and the first taker wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows.base import escape
from bot.text.i18n import Translator
from bot.text.wording import call_name, commune_name, money, themes_text
from storage.models import Proposal
from storage.proposals import matched_initiative_names
from storage.workflow import take_proposal

TAKE_PREFIX = "staff:take:"


def staff_summary(
    proposal: Proposal, language: str, back_office_url: str, matched: list[str]
) -> str:
    """A short structured summary with a link to the proposal's page."""
    t = Translator(language)
    url = f"{back_office_url}/proposals/{proposal.reference}"
    lines = [
        t.gettext("🆕 <b>New proposal {reference}</b>").format(
            reference=escape(proposal.reference)
        ),
        f"<b>{escape(proposal.title)}</b>",
        t.gettext("Where: {place}").format(place=escape(commune_name(t, proposal))),
        t.gettext("Themes: {themes}").format(themes=escape(themes_text(t, proposal.themes) or "—")),
        t.gettext("Budget: {budget}").format(budget=escape(money(t, proposal.budget_cents))),
        t.gettext("Call: {call}").format(call=escape(call_name(t, proposal.call_id))),
    ]
    if matched:
        lines.append(t.gettext("Close to: {names}").format(names=escape(", ".join(matched[:3]))))
    lines += ["", f'<a href="{escape(url)}">' + t.gettext("Open in the back-office") + "</a>"]
    if proposal.taken_by:
        lines += ["", t.gettext("✋ Taken by {name}").format(name=escape(proposal.taken_by))]
    if proposal.status == "withdrawn":
        lines += ["", "↩ <b>" + t.gettext("Withdrawn by the citizen.") + "</b>"]
    return "\n".join(lines)


def take_buttons(proposal: Proposal, language: str) -> list[list[dict[str, Any]]]:
    """The outbox payload's buttons: "take it" until someone took the proposal."""
    if proposal.taken_by or proposal.status == "withdrawn":
        return []
    t = Translator(language)
    return [
        [{"text": t.gettext("✋ I'll take it"), "callback_data": TAKE_PREFIX + proposal.reference}]
    ]


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
