"""The inbox storage functions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.database import create_sessionmaker
from storage.inbox import (
    KEEP_DONE,
    MAX_ATTEMPTS,
    IncomingUpdate,
    UpdateKey,
    applied_result,
    claim_due,
    inbox_stats,
    mark_done,
    mark_failed,
    parked_updates,
    prune_done,
    record_result,
    retry_parked,
    store_updates,
)
from storage.models import Conversation, InboxUpdate
from storage.proposals import erase_citizen

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BOT = 42
LEASE = 30.0


def incoming(update_id: int, chat_id: int | None = 1) -> IncomingUpdate:
    return IncomingUpdate(update_id, chat_id, {"update_id": update_id, "text": f"#{update_id}"})


async def store(
    sessions: async_sessionmaker[AsyncSession], *updates: IncomingUpdate, bot_id: int = BOT
) -> int:
    async with sessions.begin() as session:
        return await store_updates(session, bot_id, updates, now=T0)


async def claim(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime = T0, limit: int = 10
) -> list[int]:
    async with sessions.begin() as session:
        rows = await claim_due(session, bot_id=BOT, now=now, limit=limit, lease_seconds=LEASE)
        return [row.update_id for row in rows]


async def done(sessions: async_sessionmaker[AsyncSession], *update_ids: int) -> None:
    async with sessions.begin() as session:
        await mark_done(session, BOT, update_ids, now=T0)


async def row(sessions: async_sessionmaker[AsyncSession], update_id: int) -> InboxUpdate:
    async with sessions() as session:
        found = await session.get(InboxUpdate, (BOT, update_id))
        assert found is not None
        return found


async def test_an_update_is_stored_once(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    assert await store(sessions, incoming(1), incoming(2)) == 2
    assert await store(sessions, incoming(2), incoming(3)) == 1  # 2 was redelivered
    async with sessions() as session:
        ids = (await session.execute(select(InboxUpdate.update_id))).scalars().all()
    assert sorted(ids) == [1, 2, 3]


async def test_the_same_update_id_of_another_bot_is_another_update(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1))
    assert await store(sessions, incoming(1), bot_id=7) == 1  # the preview bot


async def test_the_chats_language_is_kept_with_the_update(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    async with sessions.begin() as session:
        session.add(Conversation(chat_id=5, flow="intake", step="title", draft={}, language="nl"))
    await store(sessions, incoming(1, chat_id=5), incoming(2, chat_id=6), incoming(3, None))
    assert (await row(sessions, 1)).language == "nl"
    assert (await row(sessions, 2)).language is None  # a chat the bot does not know yet
    assert (await row(sessions, 3)).language is None


async def test_a_chats_updates_are_claimed_one_at_a_time_in_update_id_order(
    pg_or_sqlite: AsyncEngine,
) -> None:
    """Stored out of order (a webhook delivery overtook another): still applied in order; the
    other chats are not held up."""
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(12, chat_id=1), incoming(10, chat_id=1))
    await store(sessions, incoming(11, chat_id=2), incoming(13, None), incoming(14, None))
    assert await claim(sessions) == [10, 11, 13, 14]
    assert await claim(sessions) == []  # 12 waits for 10
    await done(sessions, 10)
    assert await claim(sessions) == [12]


async def test_an_update_that_arrives_after_a_later_one_was_applied_is_applied(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(21))
    assert await claim(sessions) == [21]
    await done(sessions, 21)
    await store(sessions, incoming(20))
    assert await claim(sessions) == [20]


async def test_a_claim_counts_an_attempt_and_holds_a_lease(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1), incoming(2, chat_id=2))
    assert await claim(sessions, limit=1) == [1]
    claimed = await row(sessions, 1)
    assert claimed.status == "processing" and claimed.attempts == 1
    assert claimed.lease_until == T0 + timedelta(seconds=LEASE)
    assert await claim(sessions, now=T0 + timedelta(seconds=LEASE - 1)) == [2]
    # its process died: once the lease is over, another process takes it up
    assert await claim(sessions, now=T0 + timedelta(seconds=LEASE + 1)) == [1]
    assert (await row(sessions, 1)).attempts == 2


async def test_a_failed_update_is_retried_later_and_holds_back_its_chat(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1), incoming(2))
    assert await claim(sessions) == [1]
    async with sessions.begin() as session:
        status = await mark_failed(session, UpdateKey(BOT, 1), "boom", now=T0, rand=lambda: 1.0)
    assert status == "pending"
    failed = await row(sessions, 1)
    assert failed.next_attempt_at == T0 + timedelta(seconds=1) and failed.last_error == "boom"
    assert await claim(sessions) == []  # 2 waits for 1's retry
    assert await claim(sessions, now=T0 + timedelta(seconds=1)) == [1]


async def test_after_the_last_attempt_an_update_is_parked_and_frees_its_chat(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1), incoming(2))
    moment = T0
    statuses = []
    for _ in range(MAX_ATTEMPTS):
        assert await claim(sessions, now=moment) == [1]
        async with sessions.begin() as session:
            statuses.append(await mark_failed(session, UpdateKey(BOT, 1), "bug", now=moment))
        moment += timedelta(hours=1)
    assert statuses == ["pending"] * (MAX_ATTEMPTS - 1) + ["parked"]
    assert await claim(sessions, now=moment) == [2]
    async with sessions() as session:
        parked = await parked_updates(session)
    assert [(p.update_id, p.payload) for p in parked] == [(1, incoming(1).payload)]
    async with sessions.begin() as session:
        assert await retry_parked(session, UpdateKey(BOT, 1))
        assert not await retry_parked(session, UpdateKey(BOT, 2))  # not parked
    assert (await row(sessions, 1)).status == "pending"


async def test_the_answer_is_kept_until_done_and_then_everything_personal_goes(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    key = UpdateKey(BOT, 1)
    await store(sessions, incoming(1))
    await claim(sessions)
    async with sessions.begin() as session:
        assert await applied_result(session, key) is None
        await record_result(session, key, {"replies": [{"text": "Merci"}]})
    async with sessions.begin() as session:
        assert await applied_result(session, key) == {"replies": [{"text": "Merci"}]}
    await done(sessions, 1)
    finished = await row(sessions, 1)
    assert finished.status == "done" and finished.payload is None and finished.result is None
    async with sessions() as session:
        assert await applied_result(session, key) == {}  # applied, nothing left to send
    async with sessions.begin() as session:
        assert await mark_failed(session, key, "late", now=T0) is None


async def test_done_updates_are_forgotten_after_a_while(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1), incoming(2, chat_id=2))
    await claim(sessions)
    await done(sessions, 1)
    async with sessions.begin() as session:
        assert await prune_done(session, now=T0 + KEEP_DONE) == 0
        assert await prune_done(session, now=T0 + KEEP_DONE + timedelta(seconds=1)) == 1
    async with sessions() as session:
        assert [r.update_id for r in (await session.execute(select(InboxUpdate))).scalars()] == [2]


async def test_stats(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1), incoming(2, chat_id=2), incoming(3, chat_id=3))
    await claim(sessions, limit=2)
    async with sessions.begin() as session:
        await mark_failed(session, UpdateKey(BOT, 2), "x", now=T0)
    await done(sessions, 1)
    async with sessions() as session:
        stats = await inbox_stats(session, now=T0 + timedelta(seconds=5))
    assert stats == {
        "pending": 2,
        "processing": 0,
        "done": 1,
        "parked": 0,
        "retrying": 1,
        "oldest_pending_age_seconds": 5.0,
    }


async def test_two_processes_never_claim_the_same_update(pg_or_sqlite: AsyncEngine) -> None:
    if pg_or_sqlite.dialect.name != "postgresql":
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are a PostgreSQL feature")
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, *(incoming(i, chat_id=i) for i in range(1, 41)))
    claims = await asyncio.gather(*(claim(sessions, limit=7) for _ in range(8)))
    taken = [update_id for claimed in claims for update_id in claimed]
    assert sorted(taken) == list(range(1, 41))


async def test_erasure_deletes_the_citizens_parked_messages(pg_or_sqlite: AsyncEngine) -> None:
    """A parked update keeps the citizen's words for staff: /delete_me takes them too."""
    sessions = create_sessionmaker(pg_or_sqlite)
    await store(sessions, incoming(1, chat_id=5), incoming(2, chat_id=6))
    for _ in range(MAX_ATTEMPTS):
        assert await claim(sessions, now=T0 + timedelta(days=1)) in ([1, 2], [1])
        async with sessions.begin() as session:
            await mark_failed(session, UpdateKey(BOT, 1), "bug", now=T0)
    await done(sessions, 2)
    async with sessions.begin() as session:
        await erase_citizen(session, 5)
        await erase_citizen(session, 6)  # a done update keeps only its id: it stays
    async with sessions() as session:
        left = (await session.execute(select(InboxUpdate.update_id))).scalars().all()
    assert left == [2]
