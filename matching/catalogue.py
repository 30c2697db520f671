"""Reading a catalogue of initiatives (CSV or JSON) into validated records.

Pure: it gets the file's bytes and returns records and the rows it rejected, with why.
A file that cannot be read as a whole (not UTF-8, not CSV or JSON, missing columns) is
refused with `CatalogueError` and nothing of it is used.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from matching.communes import find_commune
from matching.normalize import LANGUAGES, detect_language
from matching.themes import theme_ids

COLUMNS = ("external_id", "name", "description", "commune", "themes", "language", "url")
REQUIRED = ("external_id", "name")
MAX_LENGTHS = {"external_id": 100, "name": 300, "description": 5000, "url": 500}


PROBLEMS: dict[str, str] = {
    "not_text": "{field} must be text",
    "empty": "{field} is empty",
    "too_long": "{field} is longer than {limit} characters",
    "unknown_commune": "unknown commune {value!r}",
    "bad_language": "language must be fr, nl or en, not {value!r}",
    "bad_url": "url must start with http:// or https://",
    "bad_themes": "themes must be text separated by ; or a list",
    "unknown_themes": "unknown theme(s) {value} (known: {known})",
    "repeated_id": "external_id repeated in the file",
    "not_utf8": (
        "the file is not UTF-8 text (byte {byte}): save it as UTF-8 (in Excel: “CSV UTF-8”) "
        "and try again"
    ),
    "bad_format": "{value}: the file must end in .csv or .json",
    "empty_file": "the file is empty",
    "missing_columns": (
        "missing column(s) {value}; the header must name at least external_id and name "
        "(all columns: {columns})"
    ),
    "bad_csv": "the CSV is malformed (line {line}): {detail}",
    "bad_json": "the JSON is malformed (line {line}): {detail}",
    "too_deep": "the JSON is nested too deeply to be a catalogue (a list of objects)",
    "not_a_list": "the JSON must be a list of objects with the catalogue's keys",
}
"""Why a file or a row is refused, in English for the command line; other readers translate
the code and its values (the back-office does)."""


@dataclass(frozen=True)
class Problem:
    code: str
    values: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return PROBLEMS[self.code].format(**dict(self.values))


def problem(code: str, **values: object) -> Problem:
    return Problem(code, tuple((key, str(value)) for key, value in values.items()))


class CatalogueError(Exception):
    """The whole file is refused; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class RowError(ValueError):
    """One row is refused; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class InitiativeRecord:
    external_id: str
    name: str
    description: str = ""
    commune: str | None = None
    themes: tuple[str, ...] = ()
    language: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Rejection:
    row: int
    """1-based data row (the header is not counted), or the index in a JSON list plus one."""
    external_id: str | None
    problem: Problem

    @property
    def reason(self) -> str:
        return str(self.problem)


def parse_catalogue(data: bytes, format: str) -> tuple[list[InitiativeRecord], list[Rejection]]:
    """Records and rejections from a CSV (`format="csv"`) or JSON (`"json"`) file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogueError(problem("not_utf8", byte=error.start)) from None
    if format == "csv":
        rows = _csv_rows(text)
    elif format == "json":
        rows = _json_rows(text)
    else:
        raise CatalogueError(problem("bad_format", value=format))
    return _validate(rows)


def _csv_rows(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        raise CatalogueError(problem("empty_file"))
    header = text.splitlines()[0]
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CatalogueError(
            problem("missing_columns", value=", ".join(missing), columns=",".join(COLUMNS))
        )
    reader.fieldnames = columns
    try:
        return [dict(row) for row in reader]
    except csv.Error as error:
        raise CatalogueError(problem("bad_csv", line=reader.line_num, detail=error)) from None


def _json_rows(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogueError(problem("bad_json", line=error.lineno, detail=error.msg)) from None
    except RecursionError:
        # Arrays or objects nested deeper than the interpreter's recursion limit (about a
        # thousand levels): valid JSON, but never a catalogue, whose values are at most a
        # list inside an object inside the list.
        raise CatalogueError(problem("too_deep")) from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CatalogueError(problem("not_a_list"))
    return value


SCALARS = (str, int, float)
"""What a cell may hold. A list or an object there is refused, never turned into text:
`str` would recurse through it as deep as the parser did, so the parser's limit would no
longer be the only one to hold."""


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, SCALARS):
        raise RowError(problem("not_text", field=key))
    return " ".join(str(value).split()) if key != "description" else str(value).strip()


def _themes(value: Any) -> tuple[str, ...]:
    items: Iterable[Any]
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(";")
    elif isinstance(value, list):
        items = value
    else:
        raise RowError(problem("bad_themes"))
    if not all(isinstance(item, SCALARS) for item in items):
        raise RowError(problem("bad_themes"))
    themes = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    unknown = [t for t in themes if t not in theme_ids()]
    if unknown:
        raise RowError(
            problem("unknown_themes", value=", ".join(unknown), known=", ".join(theme_ids()))
        )
    return themes


@functools.lru_cache(maxsize=1024)
def _commune_named(name: str) -> str | None:
    """The REFNIS code of the commune a catalogue cell names (None: none). Cached: a
    catalogue of tens of thousands of rows names the same nineteen communes over and over,
    and the lookup (it forgives typos) was most of the time spent reading one."""
    matches = find_commune(name)
    return matches[0].commune.refnis if matches else None


def _record(row: Mapping[str, Any]) -> InitiativeRecord:
    values = {
        key: _text(row, key)
        for key in ("external_id", "name", "description", "commune", "language", "url")
    }
    for key in REQUIRED:
        if not values[key]:
            raise RowError(problem("empty", field=key))
    for key, limit in MAX_LENGTHS.items():
        if len(values[key]) > limit:
            raise RowError(problem("too_long", field=key, limit=limit))
    commune = None
    if values["commune"]:
        commune = _commune_named(values["commune"])
        if commune is None:
            raise RowError(problem("unknown_commune", value=values["commune"]))
    language = values["language"].lower() or None
    if language is not None and language not in LANGUAGES:
        raise RowError(problem("bad_language", value=values["language"]))
    url = values["url"] or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise RowError(problem("bad_url"))
    return InitiativeRecord(
        external_id=values["external_id"],
        name=values["name"],
        description=values["description"],
        commune=commune,
        themes=_themes(row.get("themes")),
        language=language or detect_language(values["name"] + " " + values["description"]),
        url=url,
    )


def _validate(rows: list[dict[str, Any]]) -> tuple[list[InitiativeRecord], list[Rejection]]:
    records: list[InitiativeRecord] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        given_id = row.get("external_id")
        external_id = (str(given_id).strip() or None) if isinstance(given_id, SCALARS) else None
        try:
            record = _record(row)
        except RowError as error:
            rejections.append(Rejection(number, external_id, error.problem))
            continue
        if record.external_id in seen:
            rejections.append(Rejection(number, external_id, problem("repeated_id")))
            continue
        seen.add(record.external_id)
        records.append(record)
    return records, rejections
