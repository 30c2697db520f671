"""CSV and JSON exports of the proposals list's current filter.

Contact details and the shared location are exported only for proposals whose citizen
agreed to share them (see `bot.text.proposal_data`); staff still see them on each proposal's page.
The CSV is made for the spreadsheet staff open it in: a UTF-8 byte order mark so that Excel
reads accents right; for a French or Dutch reader, `;` between cells and decimal commas (what
Excel expects in their locales; with `,`, each line lands in one column); and no cell that a
spreadsheet would run as a formula (see `csv_cell`).
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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP, "CSV injection")."""
DECIMAL_COMMA_LANGUAGES = frozenset({"fr", "nl"})


def csv_cell(value: Any, *, decimal_comma: bool) -> Any:
    """One value as a CSV cell. Text that a spreadsheet would run as a formula (a title such
    as `=HYPERLINK(…)` or `@SUM(…)`, a phone number `+32 …`) starts with an apostrophe, which
    the spreadsheet shows as text and hides."""
    if isinstance(value, list):
        value = ";".join(value)
    if value is None:
        return ""
    if isinstance(value, float) and decimal_comma:
        return str(value).replace(".", ",")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def export_csv(request: web.Request) -> web.Response:
    french_or_dutch = translator(request).language in DECIMAL_COMMA_LANGUAGES
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=";" if french_or_dutch else ",")
    writer.writeheader()
    for row in await _rows(request):
        writer.writerow(
            {key: csv_cell(value, decimal_comma=french_or_dutch) for key, value in row.items()}
        )
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
