"""A citizen's copy of their data (/my_data): the JSON file and its readable summary.

The JSON has every stored value about the citizen, with English keys, for a machine (or
another service) to read; the summary says the same in the citizen's language. Internal
notes of the staff are left out of both, and the summary says so; the staff are named as
"the staff", not by their accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.text.i18n import Translator
from bot.text.labels import STATUS_LABELS
from bot.text.wording import call_name, commune_name, money, themes_text
from storage.access import CitizenRecord
from storage.clock import BRUSSELS
from storage.models import Proposal, ProposalEvent

SHOWN_EVENTS = ("status", "answer", "reply", "taken", "anonymised")
"""History given to the citizen: everything but the staff's internal notes."""


@dataclass(frozen=True)
class Sharing:
    """Where this deployment sends proposals besides the back-office."""

    staff_group: bool
    """Each new proposal is posted in a staff group on Telegram (no contact details)."""
    webhook: bool
    """Each proposal goes to an external back-office (contact details with consent)."""


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(BRUSSELS).isoformat(timespec="seconds")


def _event(event: ProposalEvent) -> dict[str, Any]:
    return {
        "at": _time(event.created_at),
        "kind": event.kind,
        "by": "citizen" if event.actor == "citizen" else "staff",
        "from_status": event.from_status,
        "to_status": event.to_status,
        "text": event.text,
    }


def _shared_with(
    proposal: Proposal, record: CitizenRecord, sharing: Sharing
) -> list[dict[str, Any]]:
    contact = bool(proposal.contact_name or proposal.contact_email or proposal.contact_phone)
    with_contact = contact and proposal.consent_share
    shared: list[dict[str, Any]] = [
        {"who": "staff", "contact_details": contact, "at": _time(proposal.submitted_at)}
    ]
    if sharing.staff_group and not proposal.is_test:
        shared.append(
            {"who": "staff_group", "contact_details": False, "at": _time(proposal.submitted_at)}
        )
    if sharing.webhook and not proposal.is_test:
        shared.append(
            {
                "who": "external_back_office",
                "contact_details": with_contact,
                "at": _time(proposal.submitted_at),
            }
        )
    for share in record.coach_shares.get(proposal.id, []):
        shared.append(
            {
                "who": "coach",
                "name": share.coach_name,
                "contact_details": with_contact,
                "at": _time(share.at),
            }
        )
    return shared


def _proposal(proposal: Proposal, record: CitizenRecord, sharing: Sharing) -> dict[str, Any]:
    located = proposal.latitude is not None and proposal.longitude is not None
    return {
        "reference": proposal.reference,
        "status": proposal.status,
        "submitted_at": _time(proposal.submitted_at),
        "language": proposal.language,
        "title": proposal.title,
        "description": proposal.description,
        "commune_refnis": proposal.commune_refnis,
        "region_wide": proposal.region_wide,
        "location": {"latitude": proposal.latitude, "longitude": proposal.longitude}
        if located
        else None,
        "carrier": proposal.carrier,
        "carrier_other": proposal.carrier_other,
        "partners": list(proposal.partners),
        "partners_other": proposal.partners_other,
        "themes": list(proposal.themes),
        "similar": proposal.similar,
        "budget_eur": None if proposal.budget_cents is None else proposal.budget_cents / 100,
        "call": proposal.call_id,
        "contact": {
            "name": proposal.contact_name,
            "email": proposal.contact_email,
            "phone": proposal.contact_phone,
        },
        "consents": {
            "contact_by_staff": proposal.consent_contact,
            "share_with_coaches_and_initiatives": proposal.consent_share,
        },
        "history": [_event(e) for e in proposal.events if e.kind in SHOWN_EVENTS],
        "shared_with": _shared_with(proposal, record, sharing),
    }


def data_copy(record: CitizenRecord, sharing: Sharing, *, now: datetime) -> dict[str, Any]:
    """Everything stored about the citizen, as JSON values."""
    conversation = record.conversation
    return {
        "exported_at": _time(now),
        "telegram_user_id": record.telegram_user_id,
        "language": record.citizen.language if record.citizen else None,
        "first_seen_at": _time(record.citizen.created_at) if record.citizen else None,
        "conversation": None
        if conversation is None
        else {
            "step": conversation.step,
            "language": conversation.language,
            "updated_at": _time(conversation.updated_at),
            "draft": {k: v for k, v in conversation.draft.items() if not k.startswith("_")},
            "submitted_as": conversation.draft.get("_reference"),
        },
        "proposals": [_proposal(p, record, sharing) for p in record.proposals],
    }


def _yes_no(t: Translator, value: bool) -> str:
    return t.gettext("yes") if value else t.gettext("no")


def _when(t: Translator, iso: str | None) -> str:
    return "—" if iso is None else t.datetime(datetime.fromisoformat(iso))


def _history_line(t: Translator, event: dict[str, Any]) -> str:
    when = _when(t, event["at"])
    kind = event["kind"]
    if kind == "status":
        status = t.gettext(STATUS_LABELS.get(event["to_status"], event["to_status"] or ""))
        line = t.gettext("status: {status}").format(status=status)
    elif kind == "answer":
        line = t.gettext("answer from the staff: {text}").format(text=event["text"] or "")
    elif kind == "reply":
        line = t.gettext("your reply: {text}").format(text=event["text"] or "")
    elif kind == "taken":
        line = t.gettext("taken in hand by the staff")
    else:
        line = t.gettext("personal data erased")
    return f"    {when} – {line}"


def _share_line(t: Translator, share: dict[str, Any]) -> str:
    who = {
        "staff": t.gettext("the staff who handle proposals, in the back-office"),
        "staff_group": t.gettext("the staff's Telegram group (title, commune, themes, budget)"),
        "external_back_office": t.gettext("the administration's case management system"),
        "coach": t.gettext("the coach {name}").format(name=share.get("name", "")),
    }[share["who"]]
    contact = (
        t.gettext("with your contact details")
        if share["contact_details"]
        else t.gettext("without your contact details")
    )
    return f"    {_when(t, share['at'])} – {who}, {contact}"


def summary(t: Translator, copy: dict[str, Any], proposals: list[Proposal]) -> str:
    """The copy as plain text in the citizen's language (`proposals`: the same ones, for the
    names of communes, themes and calls)."""
    lines = [
        t.gettext("Your data, as stored on {date}").format(date=_when(t, copy["exported_at"])),
        "",
        t.gettext("Telegram id: {id}").format(id=copy["telegram_user_id"]),
        t.gettext("First message: {date}").format(date=_when(t, copy["first_seen_at"])),
    ]
    conversation = copy["conversation"]
    if conversation and conversation["draft"].get("title") and not conversation["submitted_as"]:
        lines.append(
            t.gettext("Proposal in progress: {title} (last change {date})").format(
                title=conversation["draft"]["title"], date=_when(t, conversation["updated_at"])
            )
        )
    for proposal, stored in zip(copy["proposals"], proposals, strict=True):
        contact = proposal["contact"]
        given = [value for value in contact.values() if value]
        lines += [
            "",
            f"{proposal['reference']} · {proposal['title']}",
            "  "
            + t.gettext("Status: {status}, submitted on {date}").format(
                status=t.gettext(STATUS_LABELS.get(proposal["status"], proposal["status"])),
                date=_when(t, proposal["submitted_at"]),
            ),
            "  " + proposal["description"],
            "  " + t.gettext("Where: {place}").format(place=commune_name(t, stored)),
            "  " + t.gettext("Themes: {themes}").format(themes=themes_text(t, stored.themes)),
            "  " + t.gettext("Budget: {amount}").format(amount=money(t, stored.budget_cents)),
            "  " + t.gettext("Call: {call}").format(call=call_name(t, stored.call_id)),
        ]
        if proposal["location"]:
            lines.append(
                "  " + t.gettext("Location: {latitude}, {longitude}").format(**proposal["location"])
            )
        lines.append(
            "  "
            + t.gettext("Your contact details: {details}").format(
                details=", ".join(given) if given else "—"
            )
        )
        consents = proposal["consents"]
        lines.append(
            "  "
            + t.gettext(
                "May the staff contact you: {contact}; may your contact details be shared "
                "with coaches and similar initiatives: {share}"
            ).format(
                contact=_yes_no(t, consents["contact_by_staff"]),
                share=_yes_no(t, consents["share_with_coaches_and_initiatives"]),
            )
        )
        if proposal["history"]:
            lines.append("  " + t.gettext("History:"))
            lines += [_history_line(t, event) for event in proposal["history"]]
        lines.append("  " + t.gettext("Shared with:"))
        lines += [_share_line(t, share) for share in proposal["shared_with"]]
    if not copy["proposals"]:
        lines += ["", t.gettext("You have not submitted any proposal yet.")]
    lines += [
        "",
        t.gettext(
            "The staff's internal notes are not in this copy: ask the data controller named "
            "in /privacy if you want them. The attached JSON file holds the same data for a "
            "computer."
        ),
    ]
    return "\n".join(lines) + "\n"
