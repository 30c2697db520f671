"""CSV, XLSX and JSON exports of the proposals list's current filter.

Contact details and the shared location are exported only for proposals whose citizen
agreed to share them (see `bot.text.proposal_data`); staff still see them on each proposal's page.
The CSV is made for the spreadsheet staff open it in: a UTF-8 byte order mark so that Excel
reads accents right; for a French or Dutch reader, `;` between cells and decimal commas (what
Excel expects in their locales; with `,`, each line lands in one column); and no cell that a
spreadsheet would run as a formula (see `csv_cell`). The XLSX workbook has the same rows and
columns with their types, which no locale can misread: numbers, dates that Excel sorts and
filters, and text that is never a formula (see `xlsx_cell`); a sheet per list, named in the
staff member's language.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.backoffice.common import translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.backoffice.pages.proposals import parse_list_request
from bot.text.proposal_data import COLUMNS, proposal_record, proposal_values
from storage.models import Proposal
from storage.review import search_proposals

EXPORT_LIMIT = 50_000


async def _rows(
    request: web.Request, record: Callable[[Proposal, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The list's proposals under its current filter and sort, each as `record` gives it."""
    t = translator(request)
    wanted = parse_list_request(request.query, t, me=request[STAFF].id)  # "assigned to me"
    async with request.app[SESSIONMAKER]() as db:
        proposals, _total = await search_proposals(
            db, wanted.filters, sort=wanted.sort, page=1, per_page=EXPORT_LIMIT
        )
    return [record(p, t.language) for p in proposals]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP, "CSV injection")."""
DECIMAL_COMMA_LANGUAGES = frozenset({"fr", "nl"})
LIST_SEPARATOR = ";"


def csv_cell(value: Any, *, decimal_comma: bool) -> Any:
    """One value as a CSV cell. Text that a spreadsheet would run as a formula (a title such
    as `=HYPERLINK(…)` or `@SUM(…)`, a phone number `+32 …`) starts with an apostrophe, which
    the spreadsheet shows as text and hides."""
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float) and decimal_comma:
        return str(value).replace(".", ",")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def export_csv(request: web.Request) -> web.Response:
    return _csv_response(request, await _rows(request, proposal_values))


def _csv_response(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    french_or_dutch = translator(request).language in DECIMAL_COMMA_LANGUAGES
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=";" if french_or_dutch else ",")
    writer.writeheader()
    for row in rows:
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
    body = json.dumps(await _rows(request, proposal_record), ensure_ascii=False, indent=1)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="proposals.json"'},
    )


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
NUMBER_FORMATS = {"budget_eur": "#,##0.00"}
"""Shown by Excel with the reader's own separators: 2 500,50 for a French reader."""
MAX_WIDTH = 60
"""Characters; a longer cell (a description) is cut on screen, not in the file."""
HEADER_FONT = Font(bold=True)


def xlsx_value(value: Any) -> Any:
    """A value as Excel stores it. Excel knows no time zones: a time is written as Brussels
    shows it (its offset dropped). XML cannot carry most control characters (openpyxl
    refuses them), so they are left out of the text."""
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def xlsx_cell(sheet: Any, column: str, value: Any) -> Any:
    """One cell of `column`, typed by its value (`xlsx_value`). openpyxl writes a string that
    starts with `=` as a formula (and `#N/A` as an error): text is marked as text; if it
    looks like a formula, it also gets the prefix Excel gives a typed `'=…`, so that it stays
    text when staff edit the cell."""
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    elif isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    elif column in NUMBER_FORMATS:
        cell.number_format = NUMBER_FORMATS[column]
    return cell


def _shown_length(value: Any) -> int:
    if isinstance(value, datetime):
        return len(DATETIME_FORMAT)
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    return 0 if value is None else len(str(value))


def _header_cell(sheet: Any, header: str) -> Any:
    cell = WriteOnlyCell(sheet, header)
    cell.font = HEADER_FONT
    return cell


@dataclass(frozen=True)
class Sheet:
    """A list as a sheet of the workbook: its (translated) name, columns and rows."""

    title: str
    columns: Sequence[str]
    rows: Sequence[dict[str, Any]]


def xlsx_workbook(sheets: Sequence[Sheet]) -> bytes:
    """The workbook, one sheet per list: a bold header row that stays in view, a filter on
    every column, and each column as wide as its header and longest line, up to MAX_WIDTH.

    Written in openpyxl's write-only mode, which streams the cells to a temporary file
    instead of keeping them as objects; still CPU-bound for seconds on a large list: run it
    in a worker thread.
    """
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        values = [[xlsx_value(row[column]) for column in sheet.columns] for row in sheet.rows]
        page = workbook.create_sheet(sheet.title)
        for index, header in enumerate(sheet.columns):
            longest = max((_shown_length(row[index]) for row in values), default=0)
            # + 3 for the filter's button, which covers the end of the header
            width = min(max(len(header) + 3, longest + 1), MAX_WIDTH)
            page.column_dimensions[get_column_letter(index + 1)].width = width
        page.freeze_panes = "A2"
        last = get_column_letter(len(sheet.columns))
        page.auto_filter.ref = f"A1:{last}{len(values) + 1}"
        page.append([_header_cell(page, header) for header in sheet.columns])
        for row in values:
            page.append(
                [xlsx_cell(page, column, v) for column, v in zip(sheet.columns, row, strict=True)]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def export_xlsx(request: web.Request) -> web.Response:
    return await _xlsx_response(request, await _rows(request, proposal_values))


async def _xlsx_response(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    t = translator(request)
    proposals = Sheet(t.gettext("Proposals"), COLUMNS, rows)
    body = await asyncio.to_thread(xlsx_workbook, [proposals])
    return web.Response(
        body=body,
        content_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="proposals.xlsx"'},
    )


async def export_selection(
    request: web.Request, proposals: Sequence[Proposal], spreadsheet: str
) -> web.Response:
    """The CSV (`spreadsheet` "csv") or XLSX ("xlsx") export of exactly these proposals, in
    this order: the proposals a staff member ticked in a list (pages.bulk)."""
    language = translator(request).language
    rows = [proposal_values(proposal, language) for proposal in proposals]
    if spreadsheet == "csv":
        return _csv_response(request, rows)
    return await _xlsx_response(request, rows)


def add_export_routes(app: web.Application) -> None:
    """Before `/proposals/{reference}`, which would otherwise take these paths."""
    app.router.add_get("/proposals/export.csv", export_csv, name="export_csv")
    app.router.add_get("/proposals/export.xlsx", export_xlsx, name="export_xlsx")
    app.router.add_get("/proposals/export.json", export_json, name="export_json")
