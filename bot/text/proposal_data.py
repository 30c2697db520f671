"""A proposal as data for other systems: exports, the API and the webhook push.

Contact details and the shared location are included only for proposals whose citizen
agreed to share them (`consent_share`).
"""

from __future__ import annotations

from typing import Any

from matching.communes import commune_by_refnis
from storage.clock import BRUSSELS
from storage.models import Proposal

COLUMNS = (
    "reference",
    "status",
    "submitted_at",
    "language",
    "title",
    "description",
    "commune_refnis",
    "commune",
    "region_wide",
    "carrier",
    "carrier_other",
    "partners",
    "partners_other",
    "themes",
    "budget_eur",
    "call_id",
    "similar_choice",
    "similar_initiative",
    "contact_name",
    "contact_email",
    "contact_phone",
    "latitude",
    "longitude",
    "consent_contact",
    "consent_share",
    "is_test",
)


def proposal_values(proposal: Proposal, language: str) -> dict[str, Any]:
    """The proposal's columns as Python values, for the CSV and XLSX exports, which each write
    a type their own way: the submission time is a datetime in Brussels time, with its offset;
    commune names in `language`."""
    shared = proposal.consent_share
    similar = proposal.similar or {}
    return {
        "reference": proposal.reference,
        "status": proposal.status,
        "submitted_at": proposal.submitted_at.astimezone(BRUSSELS),
        "language": proposal.language,
        "title": proposal.title,
        "description": proposal.description,
        "commune_refnis": proposal.commune_refnis,
        "commune": commune_by_refnis(proposal.commune_refnis).name(language)
        if proposal.commune_refnis
        else None,
        "region_wide": proposal.region_wide,
        "carrier": proposal.carrier,
        "carrier_other": proposal.carrier_other,
        "partners": list(proposal.partners),
        "partners_other": proposal.partners_other,
        "themes": list(proposal.themes),
        "budget_eur": proposal.budget_cents / 100 if proposal.budget_cents is not None else None,
        "call_id": proposal.call_id,
        "similar_choice": similar.get("choice"),
        "similar_initiative": similar.get("name"),
        "contact_name": proposal.contact_name if shared else None,
        "contact_email": proposal.contact_email if shared else None,
        "contact_phone": proposal.contact_phone if shared else None,
        "latitude": proposal.latitude if shared else None,
        "longitude": proposal.longitude if shared else None,
        "consent_contact": proposal.consent_contact,
        "consent_share": proposal.consent_share,
        "is_test": proposal.is_test,
    }


def proposal_record(proposal: Proposal, language: str) -> dict[str, Any]:
    """The proposal as JSON exports, the API and the webhook push give it: the submission
    time in ISO 8601, Brussels time with its offset."""
    record = proposal_values(proposal, language)
    record["submitted_at"] = record["submitted_at"].isoformat(timespec="seconds")
    return record
