"""Duplicates (storage.duplicates): marking, the refusals, unmarking, the open views, the
citizen's request to join the original; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.database import create_engine, create_sessionmaker
from storage.duplicates import (
    ASKED_TO_JOIN,
    DUPLICATE_GONE,
    EVENT_KINDS,
    HAS_DUPLICATE,
    JOIN_REQUESTED,
    MARKED,
    UNMARKED,
    DuplicateError,
    duplicates_of,
    mark_duplicate,
    original_of,
    request_join,
    unmark_duplicate,
)
from storage.models import Proposal, ProposalEvent
from storage.proposals import erase_citizen
from storage.review import ProposalFilters, search_proposals, team_load
from tests.factories import make_citizen, make_proposal

STAFF = "anna@example.brussels"


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def events(session: AsyncSession, proposal_id: int) -> list[tuple[str, str, str | None]]:
    """The proposal's events about duplicates (not its submission)."""
    rows = await session.execute(
        select(ProposalEvent)
        .where(ProposalEvent.proposal_id == proposal_id)
        .where(ProposalEvent.kind.in_(EVENT_KINDS))
        .order_by(ProposalEvent.id)
    )
    return [(e.kind, e.actor, e.text) for e in rows.scalars()]


async def get(session: AsyncSession, proposal_id: int) -> Proposal:
    proposal = await session.get(Proposal, proposal_id)
    assert proposal is not None
    return proposal


async def three(session: AsyncSession) -> tuple[Proposal, Proposal, Proposal]:
    first = await make_proposal(session, title="Un potager au parc")
    second = await make_proposal(session, title="Un potager dans le parc")
    third = await make_proposal(session, title="Des légumes au parc")
    return first, second, third


async def test_marking_links_both_proposals_with_an_event_on_each(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        original, duplicate, _ = await three(session)
        # As staff type it: any case, spaces around.
        found, event = await mark_duplicate(
            session, duplicate, f"  {original.reference.lower()} ", actor=STAFF
        )
        assert found.id == original.id
        assert (event.kind, event.text) == (MARKED, original.reference)
    async with sessions() as session:
        duplicate = await get(session, duplicate.id)
        assert duplicate.duplicate_of_id == original.id
        assert (await original_of(session, duplicate)) is not None
        assert [d.reference for d in await duplicates_of(session, original.id)] == [
            duplicate.reference
        ]
        assert await events(session, duplicate.id) == [(MARKED, STAFF, original.reference)]
        assert await events(session, original.id) == [(HAS_DUPLICATE, STAFF, duplicate.reference)]
        assert duplicate.status == "submitted"  # a duplicate keeps its status


async def refusal(
    sessions: async_sessionmaker[AsyncSession], proposal_id: int, reference: str
) -> DuplicateError:
    async with sessions() as session, session.begin():
        with pytest.raises(DuplicateError) as raised:
            await mark_duplicate(session, await get(session, proposal_id), reference, actor=STAFF)
    return raised.value


async def test_refusals_say_why_and_change_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        first, second, third = await three(session)
        fourth = await make_proposal(session)
    assert (await refusal(sessions, first.id, first.reference)).code == "itself"
    unknown = await refusal(sessions, first.id, " BXL-1999-99999 ")
    assert (unknown.code, unknown.reference) == ("unknown", "BXL-1999-99999")
    assert (await refusal(sessions, first.id, "")).code == "unknown"

    async with sessions() as session, session.begin():
        await mark_duplicate(session, await get(session, second.id), first.reference, actor=STAFF)
    # The original of an original: staff are told which one to pick instead.
    chained = await refusal(sessions, third.id, second.reference)
    assert (chained.code, chained.reference) == ("original_is_duplicate", first.reference)
    # Already a duplicate (of first).
    already = await refusal(sessions, second.id, third.reference)
    assert (already.code, already.reference) == ("already", first.reference)
    # The other way round would close a circle.
    cycle = await refusal(sessions, first.id, second.reference)
    assert (cycle.code, cycle.reference) == ("cycle", second.reference)
    # A proposal that has duplicates does not become one.
    has = await refusal(sessions, first.id, fourth.reference)
    assert (has.code, has.references) == ("has_duplicates", (second.reference,))

    async with sessions() as session:
        assert (await get(session, first.id)).duplicate_of_id is None
        assert (await get(session, third.id)).duplicate_of_id is None
        assert (await get(session, second.id)).duplicate_of_id == first.id
        assert len(await events(session, first.id)) == 1  # only "has a duplicate"


async def test_unmarking_gives_the_proposal_back_with_an_event_on_each(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        original, duplicate, _ = await three(session)
        await mark_duplicate(session, duplicate, original.reference, actor=STAFF)
    async with sessions() as session, session.begin():
        former = await unmark_duplicate(session, await get(session, duplicate.id), actor="bram")
        assert former.id == original.id
    async with sessions() as session, session.begin():
        assert (await get(session, duplicate.id)).duplicate_of_id is None
        assert await duplicates_of(session, original.id) == []
        assert (await events(session, duplicate.id))[-1] == (UNMARKED, "bram", original.reference)
        assert (await events(session, original.id))[-1] == (
            DUPLICATE_GONE,
            "bram",
            duplicate.reference,
        )
        with pytest.raises(DuplicateError) as raised:
            await unmark_duplicate(session, await get(session, duplicate.id), actor="bram")
        assert raised.value.code == "not_duplicate"


async def test_a_duplicate_leaves_the_open_views_and_comes_back_when_unmarked(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        original, duplicate, other = await three(session)
        await mark_duplicate(session, duplicate, original.reference, actor=STAFF)
    open_only, any_status = ProposalFilters(open_only=True), ProposalFilters()
    late = datetime(2100, 1, 1, tzinfo=UTC)
    async with sessions() as session:
        rows, total = await search_proposals(session, open_only)
        assert total == 2 and duplicate.id not in {p.id for p in rows}
        assert (await search_proposals(session, any_status))[1] == 3
        by_status = ProposalFilters(status="submitted", open_only=True)
        assert (await search_proposals(session, by_status))[1] == 3  # a status asked for
        [load] = await team_load(session, overdue_before=late)
        assert (load.staff_id, load.open) == (None, 2)
    async with sessions() as session, session.begin():
        await unmark_duplicate(session, await get(session, duplicate.id), actor=STAFF)
    async with sessions() as session:
        assert (await search_proposals(session, open_only))[1] == 3
        assert (await team_load(session, overdue_before=late))[0].open == 3
    assert other.id  # the third one stayed open throughout


async def test_two_staff_marking_each_way_at_once_cannot_make_a_circle(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        first, second, _ = await three(session)

    async def mark(proposal_id: int, reference: str) -> str:
        async with sessions() as session, session.begin():
            try:
                await mark_duplicate(
                    session, await get(session, proposal_id), reference, actor=STAFF
                )
            except DuplicateError as error:
                return error.code
            return "done"

    outcomes = await asyncio.gather(
        mark(first.id, second.reference), mark(second.id, first.reference)
    )
    assert sorted(outcomes) == ["cycle", "done"]
    async with sessions() as session:
        links = {(await get(session, p)).duplicate_of_id for p in (first.id, second.id)}
        assert None in links and len(links) == 2


async def test_the_citizen_asks_to_join_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 4242)
        original = await make_proposal(session)
        duplicate = await make_proposal(session, citizen)
        await mark_duplicate(session, duplicate, original.reference, actor=STAFF)
    async with sessions() as session, session.begin():
        # Not their proposal: nothing.
        assert (await request_join(session, 4243, duplicate.id, original.id)).outcome == "unknown"
        # Another original than the one the button names: nothing.
        other = await request_join(session, 4242, duplicate.id, duplicate.id)
        assert other.outcome == "not_duplicate"
        asked = await request_join(session, 4242, duplicate.id, original.id)
        assert asked.outcome == "requested"
        assert asked.original is not None and asked.original.id == original.id
    async with sessions() as session, session.begin():
        again = await request_join(session, 4242, duplicate.id, original.id)
        assert again.outcome == "already"
    async with sessions() as session, session.begin():
        assert [e for e in await events(session, duplicate.id) if e[0] == ASKED_TO_JOIN] == [
            (ASKED_TO_JOIN, "citizen", original.reference)
        ]
        assert [e for e in await events(session, original.id) if e[0] == JOIN_REQUESTED] == [
            (JOIN_REQUESTED, "citizen", duplicate.reference)
        ]
        await unmark_duplicate(session, await get(session, duplicate.id), actor=STAFF)
    async with sessions() as session, session.begin():
        late = await request_join(session, 4242, duplicate.id, original.id)
        assert late.outcome == "not_duplicate"
        await mark_duplicate(
            session, await get(session, duplicate.id), original.reference, actor=STAFF
        )
        # Marked again: the earlier request still stands.
        assert (await request_join(session, 4242, duplicate.id, original.id)).outcome == "already"
        await erase_citizen(session, 4242)
    async with sessions() as session, session.begin():
        erased = await request_join(session, 4242, duplicate.id, original.id)
        assert erased.outcome == "unknown"
