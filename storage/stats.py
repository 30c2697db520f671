"""Figures for the dashboard and /metrics: proposals by theme, commune and week; dead letters.

Counts by status are `storage.review.status_counts`, and the outbox's counts by status
`storage.outbox.outbox_stats`; this module adds what those do not cover. Test proposals
(from the preview) are left out, as in the proposals list, so that every figure matches
the list it links to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, distinct, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import BRUSSELS, utcnow
from storage.models import DEAD, PENDING, OutboxMessage, Proposal
from storage.review import brussels_day_start

REGION_WIDE = "region"
"""The commune bucket of proposals meant for the whole region."""
NO_COMMUNE = "none"
"""The commune bucket of proposals with neither a commune nor the whole region."""
WEEKS = 12


@dataclass(frozen=True)
class WeekCount:
    monday: date
    """First day (Europe/Brussels) of the ISO week."""
    count: int

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def iso_week(self) -> tuple[int, int]:
        """(ISO year, ISO week number)."""
        year, week, _day = self.monday.isocalendar()
        return year, week


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    chat_id: int | None
    dedupe_key: str
    attempts: int
    last_error: str | None
    created_at: datetime


def _counted() -> ColumnElement[bool]:
    return Proposal.is_test.is_(False)


async def theme_counts(session: AsyncSession) -> dict[str, int]:
    """How many proposals carry each theme (a proposal counts once for each of its themes).

    Only themes that occur are present.
    """
    if session.get_bind().dialect.name == "postgresql":
        # A set-returning function's one column takes the alias's name unless it is named.
        elements = func.jsonb_array_elements_text(type_coerce(Proposal.themes, JSONB))
        theme = elements.table_valued("value").render_derived("theme_values")
    else:
        theme = func.json_each(Proposal.themes).table_valued("value")
    query = (
        select(theme.c.value, func.count(distinct(Proposal.id)))
        .select_from(Proposal)
        .join(theme, true())
        .where(_counted())
        .group_by(theme.c.value)
    )
    return {str(value): int(count) for value, count in (await session.execute(query)).all()}


async def commune_counts(session: AsyncSession) -> dict[str, int]:
    """How many proposals per commune (REFNIS code), REGION_WIDE and NO_COMMUNE.

    Only buckets that occur are present.
    """
    query = (
        select(Proposal.region_wide, Proposal.commune_refnis, func.count())
        .where(_counted())
        .group_by(Proposal.region_wide, Proposal.commune_refnis)
    )
    counts: dict[str, int] = {}
    for region_wide, refnis, count in (await session.execute(query)).all():
        key = REGION_WIDE if region_wide else (refnis or NO_COMMUNE)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def weekly_counts(
    session: AsyncSession, *, weeks: int = WEEKS, now: datetime | None = None
) -> list[WeekCount]:
    """Proposals submitted in each of the last `weeks` ISO weeks (Brussels), oldest first.

    The current week is the last one; weeks without proposals are there with 0. The
    submission times are bucketed here rather than in SQL: SQLite knows no time zones, and
    a Brussels week starts at 23:00 or 22:00 UTC depending on the season.
    """
    moment = now or utcnow()
    this_monday = _monday(moment.astimezone(BRUSSELS).date())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts = dict.fromkeys(mondays, 0)
    query = select(Proposal.submitted_at).where(
        _counted(),
        Proposal.submitted_at >= brussels_day_start(mondays[0]),
        Proposal.submitted_at < brussels_day_start(this_monday + timedelta(weeks=1)),
    )
    for submitted_at in (await session.execute(query)).scalars():
        monday = _monday(submitted_at.astimezone(BRUSSELS).date())
        counts[monday] += 1
    return [WeekCount(monday, count) for monday, count in counts.items()]


async def outbox_failed_count(session: AsyncSession) -> int:
    """Messages waiting for another try after a failed one (pending, with an error kept)."""
    query = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.last_error.is_not(None))
    )
    return int((await session.execute(query)).scalar_one())


async def dead_letters(
    session: AsyncSession, *, page: int = 1, per_page: int = 50
) -> tuple[list[DeadLetter], int]:
    """One page of the dead messages, newest first, and how many are dead in all."""
    page = max(page, 1)
    per_page = max(per_page, 1)
    dead = OutboxMessage.status == DEAD
    total = int(
        (
            await session.execute(select(func.count()).select_from(OutboxMessage).where(dead))
        ).scalar_one()
    )
    query = (
        select(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.chat_id,
            OutboxMessage.dedupe_key,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
            OutboxMessage.created_at,
        )
        .where(dead)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = [DeadLetter(*row) for row in (await session.execute(query)).all()]
    return rows, total


async def dead_letter_ids(session: AsyncSession) -> list[int]:
    """The ids of every dead message, oldest first (to put them all back in the queue)."""
    query = select(OutboxMessage.id).where(OutboxMessage.status == DEAD).order_by(OutboxMessage.id)
    return list((await session.execute(query)).scalars())
