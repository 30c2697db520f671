"""Back-office queries over proposals: search with filters, sort and pages; counts; detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.clock import BRUSSELS
from storage.duplicates import NOT_A_DUPLICATE
from storage.models import Proposal, ProposalMatch
from storage.workflow import OPEN_STATUSES, STAFF_TURN

STATUSES: tuple[str, ...] = (
    "submitted",
    "in_review",
    "needs_info",
    "accepted",
    "rejected",
    "withdrawn",
)
"""In workflow order: the list's status filter shows them so."""
SORTS: tuple[str, ...] = ("waiting", "newest", "oldest", "reference", "status", "budget")


@dataclass
class ProposalFilters:
    """What the staff member narrows the list to; None means "any"."""

    status: str | None = None
    open_only: bool = False
    """Only OPEN_STATUSES, duplicates left out (ignored when `status` is given)."""
    theme: str | None = None
    commune: str | None = None
    """REFNIS code of the commune."""
    call: str | None = None
    language: str | None = None
    date_from: date | None = None
    """First day (Europe/Brussels) of submission, inclusive."""
    date_to: date | None = None
    """Last day (Europe/Brussels) of submission, inclusive."""
    text: str | None = None
    """Case-insensitive substring of the title, description or reference."""
    include_tests: bool = False
    assignee: int | None = None
    """The staff id of the assignee; with `unassigned`, theirs or nobody's."""
    unassigned: bool = False
    """Proposals assigned to nobody (or to `assignee`)."""


def brussels_day_start(day: date) -> datetime:
    """The UTC instant at which `day` begins in Brussels."""
    return datetime.combine(day, time(0), tzinfo=BRUSSELS).astimezone(UTC)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_theme(dialect: str, theme: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Proposal.themes, JSONB).contains([theme])
    values = func.json_each(Proposal.themes).table_valued("value")
    return exists(select(literal(1)).select_from(values).where(values.c.value == theme))


def _conditions(filters: ProposalFilters, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if not filters.include_tests:
        conditions.append(Proposal.is_test.is_(False))
    if filters.status:
        conditions.append(Proposal.status == filters.status)
    elif filters.open_only:
        conditions.append(Proposal.status.in_(OPEN_STATUSES))
        conditions.append(NOT_A_DUPLICATE)  # handled with its original (storage.duplicates)
    if filters.assignee is not None and filters.unassigned:
        conditions.append(
            or_(Proposal.assignee_id == filters.assignee, Proposal.assignee_id.is_(None))
        )
    elif filters.assignee is not None:
        conditions.append(Proposal.assignee_id == filters.assignee)
    elif filters.unassigned:
        conditions.append(Proposal.assignee_id.is_(None))
    if filters.theme:
        conditions.append(_has_theme(dialect, filters.theme))
    if filters.commune:
        conditions.append(Proposal.commune_refnis == filters.commune)
    if filters.call:
        conditions.append(Proposal.call_id == filters.call)
    if filters.language:
        conditions.append(Proposal.language == filters.language)
    if filters.date_from:
        conditions.append(Proposal.submitted_at >= brussels_day_start(filters.date_from))
    if filters.date_to:
        end = brussels_day_start(filters.date_to + timedelta(days=1))
        conditions.append(Proposal.submitted_at < end)
    text = (filters.text or "").strip()
    if text:
        pattern = _like_pattern(text)
        conditions.append(
            or_(
                Proposal.title.ilike(pattern, escape="\\"),
                Proposal.description.ilike(pattern, escape="\\"),
                Proposal.reference.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def _ordered(query: Select[Any], sort: str) -> Select[Any]:
    if sort == "waiting":  # the staff's turn first, the longest wait first
        citizens_turn = case((Proposal.status.in_(STAFF_TURN), 0), else_=1)
        return query.order_by(citizens_turn, Proposal.waiting_since.asc(), Proposal.id.asc())
    if sort == "oldest":
        return query.order_by(Proposal.submitted_at.asc(), Proposal.id.asc())
    if sort == "reference":
        return query.order_by(Proposal.reference.asc())
    if sort == "status":
        workflow = case({status: n for n, status in enumerate(STATUSES)}, value=Proposal.status)
        return query.order_by(workflow, Proposal.submitted_at.desc(), Proposal.id.desc())
    if sort == "budget":
        return query.order_by(
            Proposal.budget_cents.desc().nulls_last(), Proposal.submitted_at.desc(), Proposal.id
        )
    return query.order_by(Proposal.submitted_at.desc(), Proposal.id.desc())


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def search_proposals(
    session: AsyncSession,
    filters: ProposalFilters,
    *,
    sort: str = "newest",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Proposal], int]:
    """One page of the proposals that pass the filters, and how many pass in all.

    `sort` is one of SORTS (anything else sorts newest first); `page` starts at 1.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    page = max(page, 1)
    per_page = max(per_page, 1)
    conditions = _conditions(filters, _dialect(session))
    total = int(
        (
            await session.execute(select(func.count()).select_from(Proposal).where(*conditions))
        ).scalar_one()
    )
    query = _ordered(select(Proposal).where(*conditions), sort)
    query = query.limit(per_page).offset((page - 1) * per_page)
    rows = list((await session.execute(query)).scalars())
    return rows, total


async def status_counts(session: AsyncSession, include_tests: bool = False) -> dict[str, int]:
    """How many proposals are in each status (every known status is present, maybe 0)."""
    query = select(Proposal.status, func.count()).group_by(Proposal.status)
    if not include_tests:
        query = query.where(Proposal.is_test.is_(False))
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in (await session.execute(query)).all():
        counts[status] = int(count)
    return counts


async def proposal_detail(session: AsyncSession, reference: str) -> Proposal | None:
    """The proposal with its history and matches (and what they point to) loaded."""
    result = await session.execute(
        select(Proposal)
        .where(Proposal.reference == reference)
        .options(
            selectinload(Proposal.events),
            selectinload(Proposal.matches).selectinload(ProposalMatch.initiative),
            selectinload(Proposal.matches).selectinload(ProposalMatch.other_proposal),
        )
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class Load:
    """One staff member's open proposals (or nobody's, when `staff_id` is None)."""

    staff_id: int | None
    open: int
    overdue: int
    """Of them, those waiting for staff since before the service delay."""
    oldest_wait: datetime | None
    """When the longest-waiting of them (waiting for staff) started to wait."""


async def team_load(
    session: AsyncSession, overdue_before: datetime, include_tests: bool = False
) -> list[Load]:
    """The open proposals of each assignee (and of nobody), most overdue first."""
    staff_turn = Proposal.status.in_(STAFF_TURN)
    query = (
        select(
            Proposal.assignee_id,
            func.count(),
            func.count().filter(staff_turn, Proposal.waiting_since < overdue_before),
            func.min(Proposal.waiting_since).filter(staff_turn),
        )
        .where(Proposal.status.in_(OPEN_STATUSES), NOT_A_DUPLICATE)
        .group_by(Proposal.assignee_id)
    )
    if not include_tests:
        query = query.where(Proposal.is_test.is_(False))
    loads = [
        Load(staff_id, int(count), int(overdue), oldest)
        for staff_id, count, overdue, oldest in (await session.execute(query)).all()
    ]
    loads.sort(key=lambda load: (-load.overdue, -load.open, load.staff_id or 0))
    return loads


@dataclass(frozen=True)
class Neighbours:
    """Where a proposal stands in a filtered, sorted list: for previous/next links."""

    previous: str | None
    next: str | None
    position: int
    """From 1; 0 when the proposal is not in the list (any more)."""
    total: int


async def neighbours(
    session: AsyncSession, filters: ProposalFilters, sort: str, reference: str
) -> Neighbours:
    """The references just before and after `reference` in the list `filters` and `sort`
    give (only the references are read: a list of some thousands is cheap)."""
    query = _ordered(
        select(Proposal.reference).where(*_conditions(filters, _dialect(session))), sort
    )
    references = list((await session.execute(query)).scalars())
    try:
        index = references.index(reference)
    except ValueError:
        return Neighbours(None, None, 0, len(references))
    return Neighbours(
        references[index - 1] if index > 0 else None,
        references[index + 1] if index + 1 < len(references) else None,
        index + 1,
        len(references),
    )
