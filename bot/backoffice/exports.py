"""CSV and JSON exports of the proposals list's current filter.

Contact details and the shared location are exported only for proposals whose citizen
agreed to share them (`consent_share`); staff still see them on each proposal's page.
The CSV starts with a UTF-8 byte order mark so that Excel opens accents right.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from aiohttp import web

from bot.backoffice.common import SESSIONMAKER, translator
from bot.backoffice.views import parse_list_request
from bot.i18n import BRUSSELS
from matching.communes import commune_by_refnis
from storage.models import Proposal
from storage.review import search_proposals

EXPORT_LIMIT = 50_000
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
    "partners",
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


def export_row(proposal: Proposal, language: str) -> dict[str, Any]:
    shared = proposal.consent_share
    similar = proposal.similar or {}
    return {
        "reference": proposal.reference,
        "status": proposal.status,
        "submitted_at": proposal.submitted_at.astimezone(BRUSSELS).isoformat(timespec="seconds"),
        "language": proposal.language,
        "title": proposal.title,
        "description": proposal.description,
        "commune_refnis": proposal.commune_refnis,
        "commune": commune_by_refnis(proposal.commune_refnis).name(language)
        if proposal.commune_refnis
        else None,
        "region_wide": proposal.region_wide,
        "carrier": proposal.carrier,
        "partners": list(proposal.partners),
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


async def _rows(request: web.Request) -> list[dict[str, Any]]:
    t = translator(request)
    wanted = parse_list_request(request.query, t)
    async with request.app[SESSIONMAKER]() as db:
        proposals, _total = await search_proposals(
            db, wanted.filters, sort=wanted.sort, page=1, per_page=EXPORT_LIMIT
        )
    return [export_row(p, t.language) for p in proposals]


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(value)
    if value is None:
        return ""
    return value


async def export_csv(request: web.Request) -> web.Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in await _rows(request):
        writer.writerow({key: _csv_value(value) for key, value in row.items()})
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="proposals.csv"'},
    )


async def export_json(request: web.Request) -> web.Response:
    body = json.dumps(await _rows(request), ensure_ascii=False, indent=1)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="proposals.json"'},
    )


def add_export_routes(app: web.Application) -> None:
    """Before `/proposals/{reference}`, which would otherwise take these paths."""
    app.router.add_get("/proposals/export.csv", export_csv, name="export_csv")
    app.router.add_get("/proposals/export.json", export_json, name="export_json")
