"""Reading a catalogue of initiatives (CSV or JSON) into validated records.

Pure: it gets the file's bytes and returns records and the rows it rejected, with why.
A file that cannot be read as a whole (not UTF-8, not CSV or JSON, missing columns) is
refused with `CatalogueError` and nothing of it is used.
"""

from __future__ import annotations

import csv
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


class CatalogueError(Exception):
    """The whole file is refused; the message says why, for a person."""


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
    reason: str


def parse_catalogue(data: bytes, format: str) -> tuple[list[InitiativeRecord], list[Rejection]]:
    """Records and rejections from a CSV (`format="csv"`) or JSON (`"json"`) file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogueError(
            f"the file is not UTF-8 text (byte {error.start}): save it as UTF-8 "
            "(in Excel: “CSV UTF-8”) and try again"
        ) from None
    if format == "csv":
        rows = _csv_rows(text)
    elif format == "json":
        rows = _json_rows(text)
    else:
        raise CatalogueError(f"unknown format {format!r}: use a .csv or .json file")
    return _validate(rows)


def _csv_rows(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        raise CatalogueError("the file is empty")
    header = text.splitlines()[0]
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CatalogueError(
            "missing column(s) " + ", ".join(missing) + "; the header must name at least "
            "external_id and name (all columns: " + ",".join(COLUMNS) + ")"
        )
    reader.fieldnames = columns
    try:
        return [dict(row) for row in reader]
    except csv.Error as error:
        raise CatalogueError(f"the CSV is malformed (line {reader.line_num}): {error}") from None


def _json_rows(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogueError(f"the JSON is malformed (line {error.lineno}): {error.msg}") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CatalogueError("the JSON must be a list of objects with the catalogue's keys")
    return value


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise ValueError(f"{key} must be text")
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
        raise ValueError("themes must be text separated by ; or a list")
    themes = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    unknown = [t for t in themes if t not in theme_ids()]
    if unknown:
        raise ValueError(
            "unknown theme(s) " + ", ".join(unknown) + " (known: " + ", ".join(theme_ids()) + ")"
        )
    return themes


def _record(row: Mapping[str, Any]) -> InitiativeRecord:
    values = {
        key: _text(row, key)
        for key in ("external_id", "name", "description", "commune", "language", "url")
    }
    for key in REQUIRED:
        if not values[key]:
            raise ValueError(f"{key} is empty")
    for key, limit in MAX_LENGTHS.items():
        if len(values[key]) > limit:
            raise ValueError(f"{key} is longer than {limit} characters")
    commune = None
    if values["commune"]:
        matches = find_commune(values["commune"])
        if not matches:
            raise ValueError(f"unknown commune {values['commune']!r}")
        commune = matches[0].commune.refnis
    language = values["language"].lower() or None
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be fr, nl or en, not {values['language']!r}")
    url = values["url"] or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError("url must start with http:// or https://")
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
        external_id = str(row.get("external_id") or "").strip() or None
        try:
            record = _record(row)
        except ValueError as error:
            rejections.append(Rejection(number, external_id, str(error)))
            continue
        if record.external_id in seen:
            rejections.append(Rejection(number, external_id, "external_id repeated in the file"))
            continue
        seen.add(record.external_id)
        records.append(record)
    return records, rejections
