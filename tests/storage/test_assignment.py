"""Assignment (storage.assignment), the queue's filters and the team's load
(storage.review), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.assignment import (
    RULES_ACTOR,
    assign,
    assignment_rules,
    delete_assignment_rule,
    mark_seen,
    new_for,
    set_assignment_rule,
)
from storage.database import create_engine, create_sessionmaker
from storage.duplicates import mark_duplicate, unmark_duplicate
from storage.models import Proposal, ProposalEvent, StaffUser
from storage.review import ProposalFilters, search_proposals, team_load
from storage.staff import add_staff
from storage.workflow import attach_citizen_reply, review
from tests.factories import make_citizen, make_proposal

MONDAY = datetime(2026, 6, 1, 8, tzinfo=UTC)


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def staff(session: AsyncSession, name: str) -> StaffUser:
    return await add_staff(session, f"{name}@example.be", "not-a-hash", "reviewer")


async def events(session: AsyncSession, proposal_id: int) -> list[tuple[str, str, str | None]]:
    rows = await session.execute(
        select(ProposalEvent)
        .where(ProposalEvent.proposal_id == proposal_id)
        .order_by(ProposalEvent.id)
    )
    return [(e.kind, e.actor, e.text) for e in rows.scalars()]


async def test_two_staff_take_the_same_proposal_one_wins_the_other_is_told(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna, bram = await staff(session, "anna"), await staff(session, "bram")
        proposal_id = (await make_proposal(session)).id

    async def take(taker: StaffUser) -> tuple[str, bool, str | None]:
        async with sessions() as session, session.begin():
            proposal = await session.get(Proposal, proposal_id)
            assert proposal is not None
            outcome = await assign(session, proposal, taker, actor=taker.email, expected=None)
            holder = outcome.assignee.email if outcome.assignee else None
            return taker.email, outcome.done, holder

    results = await asyncio.gather(take(anna), take(bram))
    winners = [email for email, done, _ in results if done]
    assert len(winners) == 1
    for email, done, holder in results:
        assert holder == winners[0], (email, done, holder)
    async with sessions() as session:
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        assert proposal.assignee_id == (anna.id if winners == [anna.email] else bram.id)
        assert [e for e in await events(session, proposal_id) if e[0] == "assigned"] == [
            ("assigned", winners[0], winners[0])
        ]


async def test_a_reassignment_from_a_stale_page_is_refused_and_says_who_has_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna, bram, chloe = [await staff(session, n) for n in ("anna", "bram", "chloe")]
        proposal = await make_proposal(session)
        assert (await assign(session, proposal, anna, actor="x", expected=None)).done
        # Bram's page still showed nobody: he cannot give it to Chloé over Anna's head.
        refused = await assign(session, proposal, chloe, actor=bram.email, expected=None)
        assert not refused.done and refused.assignee is not None
        assert refused.assignee.email == "anna@example.be"
        # Given by someone else, it is new for Anna until she opens it.
        assert await new_for(session, anna.id) == 1
        await mark_seen(session, proposal, bram.id)
        assert await new_for(session, anna.id) == 1
        await mark_seen(session, proposal, anna.id)
        assert await new_for(session, anna.id) == 0
        # Seen with Anna as the assignee, it can go to Chloé, then back to nobody.
        moved = await assign(session, proposal, chloe, actor=bram.email, expected=anna.id)
        assert moved.done and proposal.assignee_id == chloe.id
        assert proposal.assigned_at is not None
        assert await new_for(session, chloe.id) == 1
        # Marked as a duplicate, it leaves her queue, and so the count of what is new there.
        original = await make_proposal(session)
        await mark_duplicate(session, proposal, original.reference, actor=bram.email)
        assert await new_for(session, chloe.id) == 0
        await unmark_duplicate(session, proposal, actor=bram.email)
        assert await new_for(session, chloe.id) == 1
        # Taken by oneself, it is not new.
        mine = await make_proposal(session)
        assert (await assign(session, mine, bram, actor=bram.email, expected=None)).done
        assert await new_for(session, bram.id) == 0
        released = await assign(session, proposal, None, actor=chloe.email, expected=chloe.id)
        assert released.done and released.assignee is None and proposal.assignee_id is None
        # Assigning to whom it already has is done, and writes nothing.
        same = await assign(session, proposal, None, actor=chloe.email, expected=None)
        assert same.done
        assert await events(session, proposal.id) == [
            ("status", "citizen", None),
            ("assigned", "x", "anna@example.be"),
            ("assigned", "bram@example.be", "chloe@example.be"),
            ("duplicate", "bram@example.be", original.reference),
            ("not_duplicate", "bram@example.be", original.reference),
            ("unassigned", "chloe@example.be", None),
        ]


async def test_rules_assign_new_proposals_by_call_then_theme_then_commune(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna, bram, chloe = [await staff(session, n) for n in ("anna", "bram", "chloe")]
        await set_assignment_rule(session, "commune", "21009", chloe, created_by="admin")
        await set_assignment_rule(session, "theme", "compost", bram, created_by="admin")
        await set_assignment_rule(session, "call", "inspirons_projet", anna, created_by="admin")
        by_call = await make_proposal(
            session, call_id="inspirons_projet", themes=["compost"], commune_refnis="21009"
        )
        by_theme = await make_proposal(
            session, themes=["food", "compost"], commune_refnis="21009"
        )
        by_commune = await make_proposal(session, themes=["food"], commune_refnis="21009")
        by_none = await make_proposal(session, themes=["food"], commune_refnis="21004")
        assert [p.assignee_id for p in (by_call, by_theme, by_commune, by_none)] == [
            anna.id,
            bram.id,
            chloe.id,
            None,
        ]
        assert ("assigned", RULES_ACTOR, "bram@example.be") in await events(session, by_theme.id)
        # A rule for the same value replaces the old one; rules are listed by field.
        await set_assignment_rule(session, "theme", "compost", anna, created_by="admin")
        listed = [(r.field, r.value, s.email) for r, s in await assignment_rules(session)]
        assert listed == [
            ("call", "inspirons_projet", "anna@example.be"),
            ("theme", "compost", "anna@example.be"),
            ("commune", "21009", "chloe@example.be"),
        ]
        rule_id = (await assignment_rules(session))[0][0].id
        assert await delete_assignment_rule(session, rule_id)
        assert not await delete_assignment_rule(session, rule_id)
        with pytest.raises(ValueError):
            await set_assignment_rule(session, "budget", "1", anna, created_by="admin")


async def test_the_queue_is_mine_or_nobodys_open_proposals_longest_wait_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna, bram = await staff(session, "anna"), await staff(session, "bram")
        citizen = await make_citizen(session, 4242, "fr")
        titles = ["Oldest", "Anna's", "Bram's", "Replied", "Decided", "Asked"]
        made = {}
        for day, title in enumerate(titles):
            made[title] = await make_proposal(
                session, citizen, now=MONDAY + timedelta(days=day), title=title
            )
        await assign(session, made["Anna's"], anna, actor="x", expected=None)
        await assign(session, made["Bram's"], bram, actor="x", expected=None)
        await review(session, made["Decided"], actor="x", to_status="accepted")
        await review(session, made["Asked"], actor="x", to_status="needs_info")
        await review(session, made["Replied"], actor="x", to_status="needs_info")
        replied = await attach_citizen_reply(
            session, 4242, "Voici la réponse", now=MONDAY + timedelta(days=20)
        )
        # The reply goes to the proposal that asked last.
        assert replied is not None and replied.title == "Replied"
        await review(session, made["Oldest"], actor="x", to_status="in_review")

    async def queue(**filters: object) -> list[str]:
        async with sessions() as session:
            rows, _ = await search_proposals(
                session, ProposalFilters(**filters), sort="waiting"  # type: ignore[arg-type]
            )
            return [row.title for row in rows]

    # Staff's turn first, the longest wait first; the one that waits for the citizen last.
    assert await queue(open_only=True, assignee=anna.id, unassigned=True) == [
        "Oldest",
        "Anna's",
        "Replied",
        "Asked",
    ]
    assert await queue(open_only=True, unassigned=True) == ["Oldest", "Replied", "Asked"]
    assert await queue(assignee=bram.id) == ["Bram's"]
    assert "Decided" in await queue()
    async with sessions() as session:
        replied = (
            await session.execute(select(Proposal).where(Proposal.title == "Replied"))
        ).scalar_one()
        assert replied.waiting_since == MONDAY + timedelta(days=20)
        assert replied.status == "in_review"

        # The team's load: overdue counts those waiting for staff since before the cut.
        cut = MONDAY + timedelta(days=1, hours=1)
        loads = {load.staff_id: load for load in await team_load(session, cut)}
        assert set(loads) == {None, anna.id, bram.id}
        assert (loads[None].open, loads[None].overdue) == (3, 1)
        assert loads[None].oldest_wait == MONDAY
        assert (loads[anna.id].open, loads[anna.id].overdue) == (1, 1)
        assert (loads[bram.id].open, loads[bram.id].overdue) == (1, 0)
        assert next(iter(loads)) is None  # as overdue as Anna, with more open proposals
