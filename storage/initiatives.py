"""The catalogue of existing initiatives: idempotent upsert on the external id, search,
editing; and how many proposals went to each call."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from matching.catalogue import InitiativeRecord
from matching.similar import document_text
from matching.text import fold
from storage.models import Initiative, Proposal

FIELDS = ("name", "description", "commune_refnis", "themes", "language", "url")


@dataclass
class UpsertReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def extend(self, other: UpsertReport) -> None:
        self.added += other.added
        self.changed += other.changed
        self.unchanged += other.unchanged


def _values(record: InitiativeRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "description": record.description,
        "commune_refnis": record.commune,
        "themes": list(record.themes),
        "language": record.language,
        "url": record.url,
    }


def _apply(initiative: Initiative, record: InitiativeRecord) -> bool:
    """Copy the record's values onto the initiative; False when nothing differed. A new
    name or description makes its sentence vector stale: it is dropped (recomputed by
    `bot.services.sentence_vectors.ensure_vectors`)."""
    values = _values(record)
    if all(getattr(initiative, key) == value for key, value in values.items()):
        return False
    if (initiative.name, initiative.description) != (values["name"], values["description"]):
        initiative.vector = None
        initiative.vector_model = None
    for key, value in values.items():
        setattr(initiative, key, value)
    return True


async def upsert_initiatives(
    session: AsyncSession, records: list[InitiativeRecord]
) -> UpsertReport:
    """Add new initiatives and update changed ones, matched on `external_id`. Does not
    commit. New ones are inserted in bulk (no ORM object each: thousands at a time)."""
    report = UpsertReport()
    ids = [r.external_id for r in records]
    existing = (
        {
            i.external_id: i
            for i in (
                await session.execute(select(Initiative).where(Initiative.external_id.in_(ids)))
            ).scalars()
        }
        if ids
        else {}
    )
    new: list[dict[str, object]] = []
    for record in records:
        current = existing.get(record.external_id)
        if current is None:
            new.append({"external_id": record.external_id, **_values(record)})
            report.added.append(record.external_id)
        elif _apply(current, record):
            report.changed.append(record.external_id)
        else:
            report.unchanged.append(record.external_id)
    await session.flush()
    if new:
        await session.execute(insert(Initiative), new)
    return report


@dataclass(frozen=True, slots=True)
class InitiativeForMatching:
    """The columns of an initiative that the similarity index reads."""

    id: int
    name: str
    description: str
    themes: list[str]
    commune_refnis: str | None
    language: str | None
    vector: bytes | None
    vector_model: str | None


async def initiatives_for_matching(session: AsyncSession) -> list[InitiativeForMatching]:
    """Every initiative, as plain rows of the columns matching needs (tens of thousands of
    them load several times faster than as ORM objects)."""
    rows = await session.execute(
        select(
            Initiative.id,
            Initiative.name,
            Initiative.description,
            Initiative.themes,
            Initiative.commune_refnis,
            Initiative.language,
            Initiative.vector,
            Initiative.vector_model,
        ).order_by(Initiative.id)
    )
    return [InitiativeForMatching(*row) for row in rows]


async def catalogue_stamp(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever an initiative is added or edited: tells an index to rebuild."""
    count, newest = (
        await session.execute(select(func.count(Initiative.id), func.max(Initiative.updated_at)))
    ).one()
    return int(count), newest


@dataclass(frozen=True)
class MissingVector:
    """A row whose sentence vector is missing or was made by another encoder."""

    id: int
    text: str  # name (or title) + "\n" + description, as the similarity index reads it
    updated_at: datetime


VectorOwner = type[Initiative] | type[Proposal]


async def missing_vectors(
    session: AsyncSession, model: VectorOwner, encoder: str
) -> list[MissingVector]:
    """The initiatives (or proposals) without a vector made by *encoder*."""
    name = Initiative.name if model is Initiative else Proposal.title
    rows = await session.execute(
        select(model.id, name, model.description, model.updated_at)
        .where(or_(model.vector.is_(None), model.vector_model != encoder))
        .order_by(model.id)
    )
    return [
        MissingVector(row_id, document_text(text, description), updated_at)
        for row_id, text, description, updated_at in rows
    ]


async def store_vectors(
    session: AsyncSession,
    model: VectorOwner,
    rows: Sequence[MissingVector],
    vectors: Sequence[bytes],
    encoder: str,
) -> None:
    """Keep the vectors computed for *rows*, with the name of the encoder that made them.
    A row edited since it was read keeps its state (its text changed: the vector would be
    stale), and ``updated_at`` keeps its value: a vector is derived data, not an edit."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.updated_at == bindparam("seen"))
        .values(vector=bindparam("new_vector"), vector_model=encoder, updated_at=bindparam("seen"))
    )
    await session.execute(
        statement,
        [
            {"row_id": row.id, "seen": row.updated_at, "new_vector": vector}
            for row, vector in zip(rows, vectors, strict=True)
        ],
    )


# ------------------------------------------------------------------ back-office


@dataclass(frozen=True)
class InitiativeFilters:
    """What a staff member narrows the catalogue to; None means "any"."""

    text: str | None = None
    """Words that must all appear in the external id, name or description; case and
    accents do not matter ("ecole" finds "École")."""
    commune: str | None = None
    """REFNIS code of the commune."""
    theme: str | None = None


@dataclass(frozen=True)
class InitiativePage:
    rows: list[Initiative]
    total: int
    """How many initiatives pass the filters."""
    page: int
    """The page shown: the one asked for, or the last one when that was beyond the end."""
    pages: int


def _has_theme(dialect: str, theme: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Initiative.themes, JSONB).contains([theme])
    values = func.json_each(Initiative.themes).table_valued("value")
    return exists(select(literal(1)).select_from(values).where(values.c.value == theme))


def _contains_all(words: list[str], *texts: str) -> bool:
    if not words:
        return True
    haystack = fold(" ".join(texts))
    return all(word in haystack for word in words)


def _found_by_name(words: list[str], rows: Sequence[tuple[int, str, str, str]]) -> list[int]:
    """The ids of the rows (id, name, external id, description) that contain every word,
    by folded name."""
    found = [
        (id_, name)
        for id_, name, external_id, text in rows
        if _contains_all(words, external_id, name, text)
    ]
    return [id_ for id_, _name in sorted(found, key=lambda row: (fold(row[1]), row[0]))]


async def search_initiatives(
    session: AsyncSession, filters: InitiativeFilters, *, page: int = 1, per_page: int = 50
) -> InitiativePage:
    """One page of the initiatives that pass the filters, by name (accents ignored).

    The commune and theme filters run in the database; the text search and the order run
    here, on the folded text, so that they behave alike on SQLite and PostgreSQL (neither
    folds accents by itself). They run in a worker thread: over tens of thousands of
    initiatives they take tenths of a second, which the event loop (the bot's answers)
    must not wait for.
    """
    per_page = max(per_page, 1)
    conditions: list[ColumnElement[bool]] = []
    if filters.commune:
        conditions.append(Initiative.commune_refnis == filters.commune)
    if filters.theme:
        conditions.append(_has_theme(session.get_bind().dialect.name, filters.theme))
    words = fold(filters.text or "").split()
    # Descriptions are read only when there is something to look for in them.
    description = Initiative.description if words else literal("")
    query = select(Initiative.id, Initiative.name, Initiative.external_id, description)
    rows = (await session.execute(query.where(*conditions))).all()
    ordered = await asyncio.to_thread(_found_by_name, words, rows)
    pages = max(1, -(-len(ordered) // per_page))
    page = min(max(page, 1), pages)
    wanted = ordered[(page - 1) * per_page : page * per_page]
    by_id = (
        {
            i.id: i
            for i in (
                await session.execute(select(Initiative).where(Initiative.id.in_(wanted)))
            ).scalars()
        }
        if wanted
        else {}
    )
    return InitiativePage([by_id[i] for i in wanted if i in by_id], len(ordered), page, pages)


@dataclass(frozen=True)
class CatalogueCounts:
    total: int
    communes: dict[str | None, int]
    """Initiatives per commune (None: no commune)."""
    themes: dict[str, int]
    """Initiatives per theme (an initiative counts once for each of its themes)."""


async def catalogue_counts(session: AsyncSession) -> CatalogueCounts:
    rows = (await session.execute(select(Initiative.commune_refnis, Initiative.themes))).all()
    communes: Counter[str | None] = Counter(commune for commune, _themes in rows)
    themes: Counter[str] = Counter(theme for _commune, listed in rows for theme in listed)
    return CatalogueCounts(len(rows), dict(communes), dict(themes))


async def initiative_by_id(session: AsyncSession, initiative_id: int) -> Initiative | None:
    return await session.get(Initiative, initiative_id)


async def edit_initiative(
    session: AsyncSession, initiative: Initiative, record: InitiativeRecord
) -> bool:
    """Save a staff member's edit (everything but the external id); False when unchanged.

    `updated_at` moves, so the bot's matcher rebuilds its index at its next refresh.
    """
    if record.external_id != initiative.external_id:
        raise ValueError("the external id of an initiative cannot change")
    changed = _apply(initiative, record)
    await session.flush()
    return changed


async def proposals_per_call(
    session: AsyncSession, include_tests: bool = False
) -> dict[str | None, int]:
    """How many proposals chose each call id (None: left to the staff)."""
    query = select(Proposal.call_id, func.count()).group_by(Proposal.call_id)
    if not include_tests:
        query = query.where(Proposal.is_test.is_(False))
    return {call_id: int(count) for call_id, count in (await session.execute(query)).all()}
