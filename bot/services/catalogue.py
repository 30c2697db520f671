"""Importing catalogues of initiatives, and the starter catalogue of a fresh database."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching.catalogue import CatalogueError, Rejection, parse_catalogue, problem
from storage.initiatives import UpsertReport, catalogue_stamp, upsert_initiatives

log = logging.getLogger(__name__)

STARTER_CATALOGUE = Path(__file__).parent.parent / "data" / "starter_initiatives.csv"
IMPORT_BATCH = 1000
"""Rows upserted per transaction. A catalogue of tens of thousands of rows in one
transaction would hold the database (SQLite has a single writer) for seconds, and every
citizen's answer with it."""


@dataclass
class ImportResult:
    report: UpsertReport
    rejected: list[Rejection]

    def summary(self) -> str:
        lines = [
            f"added {len(self.report.added)}, changed {len(self.report.changed)}, "
            f"unchanged {len(self.report.unchanged)}, rejected {len(self.rejected)}"
        ]
        for external_id in self.report.added:
            lines.append(f"  added {external_id}")
        for external_id in self.report.changed:
            lines.append(f"  changed {external_id}")
        for rejection in self.rejected:
            lines.append(
                f"  rejected row {rejection.row} ({rejection.external_id or 'no external_id'}): "
                f"{rejection.reason}"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.report.added,
            "changed": self.report.changed,
            "unchanged": len(self.report.unchanged),
            "rejected": [
                {"row": r.row, "external_id": r.external_id, "reason": r.reason}
                for r in self.rejected
            ],
        }


def catalogue_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("csv", "json"):
        raise CatalogueError(problem("bad_format", value=path.name))
    return suffix


async def import_catalogue(
    sessionmaker: async_sessionmaker[AsyncSession], data: bytes, format: str
) -> ImportResult:
    """Parse, then upsert every valid row, `IMPORT_BATCH` rows per transaction.

    Parsing a large file is CPU work: it runs in a worker thread, so that the event loop
    (the bot's answers, the back-office, /healthz) keeps serving meanwhile. Should the
    database fail half-way, the batches before stay imported; importing the file again
    finishes the work (the upsert is idempotent)."""
    records, rejected = await asyncio.to_thread(parse_catalogue, data, format)
    report = UpsertReport()
    for start in range(0, len(records), IMPORT_BATCH):
        async with sessionmaker() as session, session.begin():
            report.extend(await upsert_initiatives(session, records[start : start + IMPORT_BATCH]))
    return ImportResult(report, rejected)


async def seed_starter_catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Load the shipped catalogue into a database that has no initiative yet."""
    async with sessionmaker() as session:
        count, _newest = await catalogue_stamp(session)
    if count:
        return False
    data = await asyncio.to_thread(STARTER_CATALOGUE.read_bytes)
    try:
        result = await import_catalogue(sessionmaker, data, "csv")
    except IntegrityError:
        # Several processes started on the same fresh database: one of them loaded it (the
        # import is one transaction, so nothing of this one stayed).
        async with sessionmaker() as session:
            count, _newest = await catalogue_stamp(session)
        if count:
            log.info("starter catalogue loaded by another process")
            return False
        raise
    log.info("starter catalogue loaded: %s", result.summary().splitlines()[0])
    return True
