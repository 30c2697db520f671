"""Command-line contracts other tools depend on: JSON lines in, JSON lines out.

`intake suggest-themes` and `intake find-similar` read one JSON object per line and write
one per line, in the same order. A line that cannot be handled gets
`{"id": …, "error": "…"}` in its place; the command then exits with status 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from matching.catalogue import InitiativeRecord
from matching.communes import find_commune
from matching.similar import Document, Query, SimilarityIndex
from matching.themes import suggest_themes

THEMES_LIMIT = 3
MATCHES_LIMIT = 5


class LineError(ValueError):
    pass


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise LineError(f"not JSON: {error.msg}") from None
    except RecursionError:
        raise LineError("JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise LineError("expected a JSON object")
    return value


def _check(value: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value.get("text"), str):
        raise LineError('"text" must be a string')
    language = value.get("language")
    if language is not None and language not in ("fr", "nl", "en"):
        raise LineError('"language" must be fr, nl or en')
    return value


def run_lines(
    source: Iterable[str], out: TextIO, answer: Callable[[dict[str, Any]], dict[str, Any]]
) -> int:
    """Answer each non-blank line; returns the exit status."""
    status = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        request_id: Any = None
        try:
            request = _parse(line)
            request_id = request.get("id")
            response = {"id": request_id, **answer(_check(request))}
        except LineError as error:
            status = 1
            response = {"id": request_id, "error": f"line {number}: {error}"}
        out.write(json.dumps(response, ensure_ascii=False) + "\n")
        out.flush()
    return status


def themes_answer(request: dict[str, Any]) -> dict[str, Any]:
    found = suggest_themes(request["text"], request.get("language"), limit=THEMES_LIMIT)
    return {"themes": [{"theme": t.theme, "score": round(t.score, 4)} for t in found]}


def catalogue_index(records: list[InitiativeRecord]) -> SimilarityIndex:
    return SimilarityIndex.build(
        Document(
            id=record.external_id,
            name=record.name,
            description=record.description,
            themes=record.themes,
            commune=record.commune,
            language=record.language,
        )
        for record in records
    )


def similar_answerer(index: SimilarityIndex) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        commune = None
        if request.get("commune"):
            found = find_commune(str(request["commune"]))
            if not found:
                raise LineError(f"unknown commune {request['commune']!r}")
            commune = found[0].commune.refnis
        themes = request.get("themes") or []
        if not isinstance(themes, list) or not all(isinstance(t, str) for t in themes):
            raise LineError("themes must be a list of theme ids")
        query = Query(request["text"], request.get("language"), commune, tuple(themes))
        return {
            "matches": [
                {
                    "initiative_id": match.document_id,
                    "score": match.score,
                    "reasons": [reason.code() for reason in match.reasons],
                }
                for match in index.search(query, MATCHES_LIMIT)
            ]
        }

    return answer
