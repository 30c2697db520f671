"""The staff group's message about a proposal: a short summary with a link to its page in
the back-office, and the "take it" button while nobody took it."""

from __future__ import annotations

from typing import Any

from bot.text.i18n import Translator
from bot.text.markup import escape
from bot.text.wording import call_name, commune_name, money, themes_text
from storage.models import Proposal

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
