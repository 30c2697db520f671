"""CSV and JSON exports of the proposals list's current filter.

Contact details and the shared location are exported only for proposals whose citizen
agreed to share them (see `bot.text.proposal_data`); staff still see them on each proposal's page.
The CSV starts with a UTF-8 byte order mark so that Excel opens accents right.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from aiohttp import web

from bot.backoffice.common import translator
from bot.backoffice.keys import SESSIONMAKER
from bot.backoffice.pages.proposals import parse_list_request
from bot.text.proposal_data import COLUMNS, proposal_record
from storage.review import search_proposals

EXPORT_LIMIT = 50_000


async def _rows(request: web.Request) -> list[dict[str, Any]]:
    t = translator(request)
    wanted = parse_list_request(request.query, t)
    async with request.app[SESSIONMAKER]() as db:
        proposals, _total = await search_proposals(
            db, wanted.filters, sort=wanted.sort, page=1, per_page=EXPORT_LIMIT
        )
    return [proposal_record(p, t.language) for p in proposals]


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
