"""The staff group's message about a proposal: a short summary with a link to its page in
the back-office, who has it, and the "take it" button while nobody has it; and the private
message telling a staff member that a proposal was given to them."""

from __future__ import annotations

from typing import Any

from bot.text.i18n import Translator
from bot.text.markup import escape
from bot.text.wording import call_name, commune_name, money, themes_text
from storage.assignment import RULES_ACTOR
from storage.models import Proposal

TAKE_PREFIX = "staff:take:"


def proposal_url(back_office_url: str, proposal: Proposal) -> str:
    return f"{back_office_url}/proposals/{proposal.reference}"


def holder(proposal: Proposal, assignee: str | None) -> str | None:
    """Who has the proposal: its assignee's e-mail address; for a proposal taken in the
    staff group before staff accounts were linked to Telegram and not assigned since, the
    name kept then (`Proposal.taken_by`)."""
    return assignee or proposal.taken_by


def staff_summary(
    proposal: Proposal,
    language: str,
    back_office_url: str,
    matched: list[str],
    assignee: str | None = None,
) -> str:
    """A short structured summary with a link to the proposal's page; `assignee` is the
    e-mail address of the staff member who has it."""
    t = Translator(language)
    url = proposal_url(back_office_url, proposal)
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
    name = holder(proposal, assignee)
    if name:
        lines += ["", t.gettext("✋ Taken by {name}").format(name=escape(name))]
    if proposal.status == "withdrawn":
        lines += ["", "↩ <b>" + t.gettext("Withdrawn by the citizen.") + "</b>"]
    return "\n".join(lines)


def take_buttons(
    proposal: Proposal, language: str, assignee: str | None = None
) -> list[list[dict[str, Any]]]:
    """The outbox payload's buttons: "take it" while nobody has the proposal."""
    if holder(proposal, assignee) or proposal.status == "withdrawn":
        return []
    t = Translator(language)
    return [
        [{"text": t.gettext("✋ I'll take it"), "callback_data": TAKE_PREFIX + proposal.reference}]
    ]


def assigned_to_you(proposal: Proposal, language: str, back_office_url: str, actor: str) -> str:
    """The private message to a staff member (linked to Telegram) given a proposal by
    someone else (`actor`, an e-mail address) or by an assignment rule."""
    t = Translator(language)
    if actor == RULES_ACTOR:
        by = t.gettext("Assigned to you by an assignment rule.")
    else:
        by = escape(t.gettext("Assigned to you by {name}.").format(name=actor))
    url = proposal_url(back_office_url, proposal)
    return "\n".join(
        [
            "👤 <b>"
            + t.gettext("A proposal was assigned to you: {reference}").format(
                reference=escape(proposal.reference)
            )
            + "</b>",
            f"<b>{escape(proposal.title)}</b>",
            by,
            "",
            f'<a href="{escape(url)}">' + t.gettext("Open in the back-office") + "</a>",
        ]
    )


SHOWN_IN_SUMMARY = 10
"""The references a bulk assignment's message lists; the others are counted."""


def assigned_several_to_you(
    references: list[str], language: str, back_office_url: str, actor: str
) -> str:
    """The one private message to a staff member (linked to Telegram) given several
    proposals at once by someone else (`actor`, an e-mail address): a bulk assignment."""
    t = Translator(language)
    count = len(references)
    shown = ", ".join(escape(reference) for reference in references[:SHOWN_IN_SUMMARY])
    if count > SHOWN_IN_SUMMARY:
        more = count - SHOWN_IN_SUMMARY
        shown += " " + t.ngettext("and {num} more", "and {num} more", more).format(num=more)
    url = f"{back_office_url}/"
    return "\n".join(
        [
            "👤 <b>"
            + t.ngettext(
                "{num} proposal was assigned to you",
                "{num} proposals were assigned to you",
                count,
            ).format(num=count)
            + "</b>",
            shown,
            escape(t.gettext("Assigned to you by {name}.").format(name=actor)),
            "",
            f'<a href="{escape(url)}">' + t.gettext("Open my queue") + "</a>",
        ]
    )
