"""Storage on SQLite and on a real PostgreSQL server (when its binaries are found)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.clock import utcnow
from storage.conversations import ConversationStore
from storage.database import alembic_config, create_engine, create_sessionmaker
from storage.models import Citizen, Conversation, Proposal, ProposalEvent
from storage.proposals import erase_citizen, proposals_of, submit_proposal
from tests.clock import MovingClock
from tests.factories import make_citizen, make_proposal, new_proposal


@pytest.fixture
def sessions(pg_or_sqlite: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(pg_or_sqlite)


def every_field() -> dict[str, Any]:
    """A Dutch proposal's fields, the optional ones filled in: the tests read them back."""
    return {
        "language": "nl",
        "title": "Samentuin",
        "description": "Een moestuin met de buren en de school van de wijk.",
        "carrier": "citizen_group",
        "commune_refnis": "21013",
        "themes": ["food", "nature"],
        "partners": ["school"],
        "budget_cents": 350050,
        "contact_name": "Jan",
        "contact_phone": "+32470123456",
        "consent_contact": True,
        "consent_share": True,
    }


async def test_models_match_the_migrations(any_database_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(any_database_url))


async def test_references_are_sequential_per_year(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 11, "nl")
        refs = []
        for when in [datetime(2026, 3, 1, tzinfo=UTC)] * 3 + [datetime(2027, 1, 2, tzinfo=UTC)]:
            proposal, created = await submit_proposal(
                session, citizen, new_proposal(), "BXL", now=when
            )
            assert created
            refs.append(proposal.reference)
    assert refs == ["BXL-2026-00001", "BXL-2026-00002", "BXL-2026-00003", "BXL-2027-00001"]


async def test_the_reference_year_is_the_brussels_date_of_the_submission(
    sessions: async_sessionmaker[AsyncSession], fixed_clock: MovingClock
) -> None:
    """23:30 UTC on 31 December is 00:30 on 1 January in Brussels: the new year's first."""
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 14, "fr")
        fixed_clock.set(datetime(2026, 12, 31, 22, 30, tzinfo=UTC))  # 23:30 in Brussels
        before = await make_proposal(session, citizen)
        fixed_clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))  # 00:30 in Brussels
        after = await make_proposal(session, citizen)
    assert (before.reference, after.reference) == ("BXL-2026-00001", "BXL-2027-00001")
    assert after.submitted_at.year == 2026  # stored in UTC


async def test_submission_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 12, "fr")
        first, created = await submit_proposal(
            session, citizen, new_proposal(submission_key="same"), "BXL"
        )
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 12, "fr")
        again, created_again = await submit_proposal(
            session, citizen, new_proposal(submission_key="same"), "BXL"
        )
    assert created and not created_again
    assert again.reference == first.reference
    async with sessions() as session:
        assert len((await session.execute(select(Proposal))).scalars().all()) == 1


async def test_every_field_round_trips(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 13, "nl")
        await make_proposal(session, citizen, **every_field(), latitude=50.83, longitude=4.34)
    async with sessions() as session:
        stored = (await session.execute(select(Proposal))).scalar_one()
        events = (await session.execute(select(ProposalEvent))).scalars().all()
    assert stored.themes == ["food", "nature"] and stored.partners == ["school"]
    assert stored.budget_cents == 350050 and stored.commune_refnis == "21013"
    assert (stored.latitude, stored.longitude) == (50.83, 4.34)
    assert stored.submitted_at.tzinfo is not None
    assert abs((utcnow() - stored.submitted_at).total_seconds()) < 60
    assert [(e.kind, e.to_status) for e in events] == [("status", "submitted")]


async def test_status_and_erasure(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        me = await make_citizen(session, 21, "fr")
        other = await make_citizen(session, 22, "en")
        await make_proposal(session, me, submission_key="a", **every_field())
        await make_proposal(session, me, submission_key="b", **every_field())
        await make_proposal(session, other, submission_key="c", **every_field())
        session.add(Conversation(chat_id=21, citizen_id=me.id, draft={"title": "x"}))
    async with sessions() as session:
        assert [p.submission_key for p in await proposals_of(session, 21)] == ["b", "a"]
    async with sessions() as session, session.begin():
        assert len(await erase_citizen(session, 21)) == 2
    async with sessions() as session:
        assert await proposals_of(session, 21) == []
        assert await session.get(Conversation, 21) is None
        citizens = (await session.execute(select(Citizen.telegram_user_id))).scalars().all()
        assert citizens == [22]
        rows = (await session.execute(select(Proposal).order_by(Proposal.id))).scalars().all()
    anonymised = [p for p in rows if p.anonymised_at is not None]
    assert len(anonymised) == 2
    assert all(p.contact_name is None and p.contact_phone is None for p in anonymised)
    assert all(p.citizen_id is None and not p.consent_share for p in anonymised)
    assert rows[2].contact_name == "Jan"


async def test_conversation_updates_never_interleave(pg_or_sqlite: AsyncEngine) -> None:
    """Two stores on one database stand for two bot instances (one process on SQLite)."""
    stores = [ConversationStore(create_sessionmaker(pg_or_sqlite))]
    if pg_or_sqlite.dialect.name == "postgresql":
        stores.append(ConversationStore(create_sessionmaker(pg_or_sqlite)))

    async def bump(store: ConversationStore) -> None:
        for _ in range(20):
            async with store.open(777) as (_session, conversation):
                version = conversation.version
                await asyncio.sleep(0)
                conversation.version = version + 1
                conversation.draft = {**conversation.draft, str(version): True}

    await asyncio.gather(*(bump(store) for store in stores for _ in range(2)))
    async with create_sessionmaker(pg_or_sqlite)() as session:
        conversation = await session.get(Conversation, 777)
    expected = 20 * 2 * len(stores)
    assert conversation is not None and conversation.version == expected
    assert len(conversation.draft) == expected


async def test_each_process_keeps_its_postgresql_connections_and_one_sqlite_connection(
    tmp_path: Any,
) -> None:
    """PostgreSQL: a pool that covers the updates a bot handles at once (opening one per
    update is slow); an SQLite file: one connection (SQLite has a single writer)."""
    postgresql = create_engine("postgresql+asyncpg://intake@127.0.0.1/intake", pool_size=7)
    sqlite = create_engine(f"sqlite+aiosqlite:///{tmp_path}/one.db")
    try:
        assert postgresql.pool.size() == 7
        assert sqlite.pool.size() == 1
        async with sqlite.connect() as first:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5), sqlite.connect():
                    pass  # waits for the one connection, held by `first`
            await first.close()
    finally:
        await postgresql.dispose()
        await sqlite.dispose()
