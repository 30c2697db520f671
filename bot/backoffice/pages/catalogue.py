"""The catalogue pages: initiatives (list, search, CSV upload, edit) and the calls.

Every signed-in staff member reads them; only administrators upload and edit. An upload
goes through `bot.services.catalogue.import_catalogue`, the import of `intake initiatives import`,
so the web and the command line accept and refuse the same files; the sentence vectors of
the initiatives it stored are then computed in the background, so that the page answers
at once. The bot's matcher re-reads the catalogue by itself
(`bot.services.matcher.REFRESH_SECONDS`): nothing to notify.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from babel.dates import format_date

from bot.backoffice.common import (
    QueryReader,
    error_page,
    pagination,
    render,
    require_role,
    translator,
)
from bot.backoffice.keys import SENTENCE_VECTORS, SESSIONMAKER
from bot.backoffice.pages.proposals import PER_PAGE
from bot.services.catalogue import ImportResult, catalogue_format, import_catalogue
from bot.services.matcher import REFRESH_SECONDS
from bot.services.sentence_vectors import BackgroundVectors
from bot.text.i18n import LANGUAGE_NAMES, N_, Translator
from bot.text.labels import ACTOR_KINDS
from matching.calls import Call, all_calls
from matching.catalogue import (
    COLUMNS,
    MAX_LENGTHS,
    CatalogueError,
    InitiativeRecord,
    Problem,
)
from matching.communes import commune_by_refnis, sorted_for_language
from matching.normalize import LANGUAGES, detect_language
from matching.text import fold
from matching.themes import theme_ids, theme_label
from storage.clock import brussels_today
from storage.initiatives import (
    InitiativeFilters,
    catalogue_counts,
    edit_initiative,
    initiative_by_id,
    proposals_per_call,
    search_initiatives,
)
from storage.models import Initiative

QUERY_LIMIT = 200

# ------------------------------------------------------------------ labels


def commune_label(t: Translator, refnis: str | None) -> str:
    if not refnis:
        return "—"
    try:
        return commune_by_refnis(refnis).name(t.language)
    except KeyError:
        return refnis


def theme_labels(t: Translator) -> dict[str, str]:
    """Theme id → name in the reader's language, sorted by name."""
    labels = {theme: theme_label(theme, t.language) for theme in theme_ids()}
    return dict(sorted(labels.items(), key=lambda item: fold(item[1])))


def _themes_of(labels: Mapping[str, str], themes: list[str] | tuple[str, ...]) -> str:
    return ", ".join(labels.get(theme, theme) for theme in themes) or "—"


def _with_count(label: str, count: int, t: Translator) -> str:
    return f"{label} ({t.number(count)})"


# ------------------------------------------------------------------ import messages

# The import (matching.catalogue, pure and shared with the command line) says why in English
# for the command line; staff read each of its problems in their language.
IMPORT_MESSAGES: dict[str, str] = {
    "not_text": N_("“%(field)s” must be text."),
    "empty": N_("“%(field)s” is empty."),
    "too_long": N_("“%(field)s” is longer than %(limit)s characters."),
    "unknown_commune": N_("Unknown commune “%(value)s”."),
    "bad_language": N_("The language must be fr, nl or en, not “%(value)s”."),
    "bad_url": N_("The url must start with http:// or https://."),
    "bad_themes": N_("The themes must be separated by “;”."),
    "unknown_themes": N_("Unknown theme(s): %(value)s. The themes are: %(known)s."),
    "repeated_id": N_("This external_id is already on an earlier line of the file."),
    "not_utf8": N_(
        "The file is not UTF-8 text (byte %(byte)s). Save it as UTF-8 (in Excel: "
        "“CSV UTF-8”) and try again."
    ),
    "bad_format": N_("The file's name must end in .csv or .json."),
    "empty_file": N_("The file is empty."),
    "missing_columns": N_(
        "Missing column(s): %(value)s. The first line must name at least external_id and name."
    ),
    "bad_csv": N_("The CSV is malformed at line %(line)s (%(detail)s)."),
    "bad_json": N_("The JSON is malformed at line %(line)s (%(detail)s)."),
    "too_deep": N_(
        "The JSON is nested too deeply to be a catalogue. It must be a list of objects with "
        "the catalogue's keys."
    ),
    "not_a_list": N_("The JSON must be a list of objects with the catalogue's keys."),
}


def import_message(t: Translator, problem: Problem) -> str:
    """An import problem in the reader's language."""
    return t.gettext(IMPORT_MESSAGES[problem.code]) % dict(problem.values)


@dataclass
class UploadOutcome:
    """What the page says after an upload: a refused file, or what the import did."""

    filename: str
    error: str | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _outcome(t: Translator, filename: str, result: ImportResult, fmt: str) -> UploadOutcome:
    return UploadOutcome(
        filename=filename,
        added=result.report.added,
        changed=result.report.changed,
        unchanged=len(result.report.unchanged),
        rejected=[
            {
                # A CSV's header is line 1, as in a spreadsheet; a JSON item by its rank.
                "where": (
                    t.gettext("line %(line)d") % {"line": r.row + 1}
                    if fmt == "csv"
                    else t.gettext("item %(item)d") % {"item": r.row}
                ),
                "external_id": r.external_id or "—",
                "reason": import_message(t, r.problem),
            }
            for r in result.rejected
        ],
    )


# ------------------------------------------------------------------ initiatives list


@dataclass
class CatalogueQuery:
    filters: InitiativeFilters
    page: int
    params: dict[str, str]
    notices: list[str]


def parse_catalogue_query(query: Mapping[str, str], t: Translator) -> CatalogueQuery:
    """Search, filters and page from the query string; bad values are dropped with a notice."""
    reader = QueryReader(query, t)
    commune = reader.choice("commune", {c.refnis for c in sorted_for_language("fr")})
    theme = reader.choice("theme", theme_ids())
    text = " ".join(query.get("q", "").split())[:QUERY_LIMIT]
    if text:
        reader.params["q"] = text
    page = reader.page()
    return CatalogueQuery(
        InitiativeFilters(text=text or None, commune=commune, theme=theme),
        page,
        reader.params,
        reader.notices,
    )


def _initiative_row(t: Translator, labels: Mapping[str, str], item: Initiative) -> dict[str, Any]:
    return {
        "id": item.id,
        "url": f"/initiatives/{item.id}",
        "external_id": item.external_id,
        "name": item.name,
        "commune": commune_label(t, item.commune_refnis),
        "themes": _themes_of(labels, item.themes),
        "language": item.language or "—",
        "website": item.url,
        "updated": t.date(item.updated_at),
        "updated_full": t.datetime(item.updated_at),
    }


async def _initiatives_page(
    request: web.Request, *, upload: UploadOutcome | None = None, status: int = 200
) -> web.Response:
    t = translator(request)
    # After an upload, the first page of the whole catalogue (the filters were not sent).
    wanted = parse_catalogue_query({} if upload else request.query, t)
    async with request.app[SESSIONMAKER]() as db:
        found = await search_initiatives(db, wanted.filters, page=wanted.page, per_page=PER_PAGE)
        counts = await catalogue_counts(db)
    if found.page != wanted.page:
        wanted.notices.append(
            t.gettext("There is no page %(page)d; the last page is shown.") % {"page": wanted.page}
        )
    labels = theme_labels(t)
    page = found.page
    first = (page - 1) * PER_PAGE + 1 if found.total else 0
    return await render(
        request,
        "initiatives.html",
        {
            "rows": [_initiative_row(t, labels, item) for item in found.rows],
            "total": found.total,
            "catalogue_total": counts.total,
            "filtered": bool(wanted.params.keys() - {"page"}),
            "first": first,
            "last": first + len(found.rows) - 1 if found.total else 0,
            **pagination("/initiatives", wanted.params, page, found.pages),
            "selected": wanted.params,
            "options": {
                "communes": [
                    (c.refnis, _with_count(c.name(t.language), counts.communes.get(c.refnis, 0), t))
                    for c in sorted_for_language(t.language)
                ],
                "themes": [
                    (theme, _with_count(label, counts.themes.get(theme, 0), t))
                    for theme, label in labels.items()
                ],
            },
            "notices": wanted.notices,
            "upload": upload,
            "columns": ",".join(COLUMNS),
            "refresh_seconds": int(REFRESH_SECONDS),
        },
        status=status,
    )


async def initiative_list(request: web.Request) -> web.Response:
    return await _initiatives_page(request)


@require_role("admin")
async def upload_initiatives(request: web.Request) -> web.Response:
    """Add or update initiatives from an uploaded CSV or JSON file (the CLI's import)."""
    t = translator(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await _initiatives_page(
            request,
            upload=UploadOutcome("", error=t.gettext("Choose a CSV file to upload.")),
            status=400,
        )
    filename = Path(upload.filename).name
    data = upload.file.read()
    try:
        fmt = catalogue_format(Path(filename))
        result = await import_catalogue(request.app[SESSIONMAKER], data, fmt)
    except CatalogueError as error:
        return await _initiatives_page(
            request,
            upload=UploadOutcome(filename, error=import_message(t, error.problem)),
            status=400,
        )
    if result.report.added or result.report.changed:
        request.app[SENTENCE_VECTORS].start()
    return await _initiatives_page(request, upload=_outcome(t, filename, result, fmt))


# ------------------------------------------------------------------ one initiative

LANGUAGE_CHOICES = ("", *LANGUAGES)


@dataclass
class InitiativeForm:
    """What the staff member typed, and what is wrong with it (msgids by field)."""

    values: dict[str, Any]
    errors: dict[str, str]


def form_values(item: Initiative) -> dict[str, Any]:
    return {
        "name": item.name,
        "description": item.description,
        "commune": item.commune_refnis or "",
        "themes": list(item.themes),
        "language": item.language or "",
        "url": item.url or "",
        "version": item.updated_at.isoformat(),
    }


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", url)


def read_initiative_form(form: Mapping[str, Any], themes: list[str]) -> InitiativeForm:
    """The edit form's values, normalised as the import normalises them, and their errors."""
    values: dict[str, Any] = {
        "name": " ".join(str(form.get("name", "")).split()),
        "description": str(form.get("description", "")).replace("\r\n", "\n").strip(),
        "commune": str(form.get("commune", "")).strip(),
        "themes": list(dict.fromkeys(themes)),
        "language": str(form.get("language", "")).strip(),
        "url": str(form.get("url", "")).strip(),
        "version": str(form.get("version", "")),
    }
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = N_("The name is required.")
    elif len(values["name"]) > MAX_LENGTHS["name"]:
        errors["name"] = N_("The name is too long (300 characters at most).")
    if len(values["description"]) > MAX_LENGTHS["description"]:
        errors["description"] = N_("The description is too long (5000 characters at most).")
    if values["commune"]:
        try:
            commune_by_refnis(values["commune"])
        except KeyError:
            errors["commune"] = N_("Choose a commune from the list.")
    if any(theme not in theme_ids() for theme in values["themes"]):
        errors["themes"] = N_("Choose themes from the list.")
    if values["language"] not in LANGUAGE_CHOICES:
        errors["language"] = N_("Choose a language from the list.")
    if values["url"]:
        if len(values["url"]) > MAX_LENGTHS["url"]:
            errors["url"] = N_("The web address is too long (500 characters at most).")
        elif not _valid_url(values["url"]):
            errors["url"] = N_("The web address must start with http:// or https://.")
    return InitiativeForm(values, errors)


def record_from_form(external_id: str, values: Mapping[str, Any]) -> InitiativeRecord:
    """The record to save; an empty language is detected from the text, as on import."""
    language = values["language"] or detect_language(values["name"] + " " + values["description"])
    return InitiativeRecord(
        external_id=external_id,
        name=values["name"],
        description=values["description"],
        commune=values["commune"] or None,
        themes=tuple(values["themes"]),
        language=language,
        url=values["url"] or None,
    )


def _initiative_id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def _initiative_page(
    request: web.Request,
    item: Initiative,
    *,
    form: InitiativeForm | None = None,
    conflict: bool = False,
    status: int = 200,
) -> web.Response:
    t = translator(request)
    labels = theme_labels(t)
    form = form or InitiativeForm(form_values(item), {})
    return await render(
        request,
        "initiative.html",
        {
            "item": item,
            "commune": commune_label(t, item.commune_refnis),
            "themes": _themes_of(labels, item.themes),
            "language_name": LANGUAGE_NAMES.get(item.language or "", "—"),
            "created": t.datetime(item.created_at),
            "updated": t.datetime(item.updated_at),
            "values": form.values,
            "errors": {name: t.gettext(msgid) for name, msgid in form.errors.items()},
            "conflict": conflict,
            "saved": request.query.get("saved") == "1",
            "options": {
                "communes": [
                    (c.refnis, c.name(t.language)) for c in sorted_for_language(t.language)
                ],
                "themes": list(labels.items()),
                "languages": list(LANGUAGE_NAMES.items()),
            },
            "refresh_seconds": int(REFRESH_SECONDS),
        },
        status=status,
    )


async def initiative_page(request: web.Request) -> web.Response:
    async with request.app[SESSIONMAKER]() as db:
        item = await initiative_by_id(db, _initiative_id(request))
    if item is None:
        return await error_page(request, 404, N_("There is no initiative with this number."))
    return await _initiative_page(request, item)


@require_role("admin")
async def save_initiative(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    themes = [str(value) for value in post.getall("themes", [])]
    form = read_initiative_form(post, themes)
    async with request.app[SESSIONMAKER]() as db, db.begin():
        item = await initiative_by_id(db, _initiative_id(request))
        if item is None:
            return await error_page(request, 404, N_("There is no initiative with this number."))
        current = item.updated_at.isoformat()
        if form.errors:
            return await _initiative_page(request, item, form=form, status=400)
        if form.values["version"] != current:
            # Changed meanwhile (another admin, an import): show what is saved now next to
            # what was typed; saving again overwrites.
            form.values["version"] = current
            return await _initiative_page(request, item, form=form, conflict=True, status=409)
        await edit_initiative(db, item, record_from_form(item.external_id, form.values))
    raise web.HTTPSeeOther(f"/initiatives/{item.id}?saved=1")


# ------------------------------------------------------------------ calls


def _format_day(t: Translator, day: date) -> str:
    return format_date(day, format="medium", locale=t.locale)


def _amounts(t: Translator, call: Call) -> str:
    if call.budget_min_cents:
        return t.gettext("%(low)s to %(high)s") % {
            "low": t.money(call.budget_min_cents),
            "high": t.money(call.budget_max_cents),
        }
    return t.gettext("up to %(high)s") % {"high": t.money(call.budget_max_cents)}


def _open_state(t: Translator, call: Call, today: date) -> tuple[str, str]:
    if call.opens and today < call.opens:
        return "later", t.gettext("opens on %(day)s") % {"day": _format_day(t, call.opens)}
    if call.closes and today > call.closes:
        return "closed", t.gettext("closed on %(day)s") % {"day": _format_day(t, call.closes)}
    if call.closes:
        return "open", t.gettext("open until %(day)s") % {"day": _format_day(t, call.closes)}
    return "open", t.gettext("open, no closing date")


async def call_list(request: web.Request) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        counts = await proposals_per_call(db)
    labels = theme_labels(t)
    today = brussels_today()
    calls = sorted(all_calls().values(), key=lambda call: fold(call.name(t.language)))
    rows = []
    for call in calls:
        state, state_text = _open_state(t, call, today)
        rows.append(
            {
                "id": call.id,
                "name": call.name(t.language),
                "funder": call.funder(t.language),
                "url": call.url,
                "where": (
                    ", ".join(sorted(commune_label(t, c) for c in call.communes))
                    if call.communes
                    else t.gettext("Whole region")
                ),
                "themes": (
                    _themes_of(labels, [theme for theme in labels if theme in call.themes])
                    if call.themes
                    else t.gettext("any theme")
                ),
                "carriers": (
                    [t.gettext(text) for kind, text in ACTOR_KINDS.items() if kind in call.carriers]
                    if call.carriers
                    else [t.gettext("anyone")]
                ),
                "amounts": _amounts(t, call),
                "state": state,
                "state_text": state_text,
                "proposals": counts.get(call.id, 0),
                "proposals_url": "/proposals?" + urlencode({"call": call.id}),
            }
        )
    known = set(all_calls())
    return await render(
        request,
        "calls.html",
        {
            "rows": rows,
            "left_to_staff": counts.get(None, 0),
            "unknown": sorted(
                (call_id, count)
                for call_id, count in counts.items()
                if call_id is not None and call_id not in known
            ),
        },
    )


async def _stop_sentence_vectors(app: web.Application) -> None:
    await app[SENTENCE_VECTORS].close()


def add_catalogue_routes(app: web.Application) -> None:
    """The catalogue pages, and the background computation of the vectors of uploaded
    initiatives (stopped with the app)."""
    app[SENTENCE_VECTORS] = BackgroundVectors(app[SESSIONMAKER])
    app.on_cleanup.append(_stop_sentence_vectors)
    app.router.add_get("/initiatives", initiative_list, name="initiatives")
    app.router.add_post("/initiatives/upload", upload_initiatives, name="initiatives_upload")
    app.router.add_get(r"/initiatives/{id:\d{1,9}}", initiative_page, name="initiative")
    app.router.add_post(r"/initiatives/{id:\d{1,9}}", save_initiative)
    app.router.add_get("/calls", call_list, name="calls")
