"""The catalogue of existing initiatives: idempotent upsert on the external id, reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from matching.catalogue import InitiativeRecord
from storage.models import Initiative

FIELDS = ("name", "description", "commune_refnis", "themes", "language", "url")


@dataclass
class UpsertReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _values(record: InitiativeRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "description": record.description,
        "commune_refnis": record.commune,
        "themes": list(record.themes),
        "language": record.language,
        "url": record.url,
    }


async def upsert_initiatives(
    session: AsyncSession, records: list[InitiativeRecord]
) -> UpsertReport:
    """Add new initiatives and update changed ones, matched on `external_id`."""
    report = UpsertReport()
    ids = [r.external_id for r in records]
    existing = {
        i.external_id: i
        for i in (
            await session.execute(select(Initiative).where(Initiative.external_id.in_(ids)))
        ).scalars()
    } if ids else {}
    for record in records:
        values = _values(record)
        current = existing.get(record.external_id)
        if current is None:
            session.add(Initiative(external_id=record.external_id, **values))
            report.added.append(record.external_id)
        elif any(getattr(current, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(current, key, value)
            report.changed.append(record.external_id)
        else:
            report.unchanged.append(record.external_id)
    await session.flush()
    return report


async def all_initiatives(session: AsyncSession) -> list[Initiative]:
    return list((await session.execute(select(Initiative).order_by(Initiative.id))).scalars())


async def catalogue_stamp(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever an initiative is added or edited: tells an index to rebuild."""
    count, newest = (
        await session.execute(select(func.count(Initiative.id), func.max(Initiative.updated_at)))
    ).one()
    return int(count), newest
