"""The outbox storage functions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.clock import utcnow
from storage.database import create_sessionmaker
from storage.models import OutboxMessage
from storage.outbox import (
    BACKOFF_CAP_SECONDS,
    MAX_ATTEMPTS,
    backoff_delay,
    claim_due,
    enqueue,
    forget_messages,
    mark_failed,
    mark_sent,
    outbox_stats,
    retry_dead,
)
from storage.redaction import identity_of

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(pg_or_sqlite: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(pg_or_sqlite)


async def _add(
    sessions: async_sessionmaker[AsyncSession], key: str, *, chat_id: int = 1, now: datetime = T0
) -> bool:
    async with sessions.begin() as session:
        return await enqueue(
            session,
            kind="telegram",
            chat_id=chat_id,
            payload={"text": f"<b>{key}</b>"},
            dedupe_key=key,
            now=now,
        )


async def _row(sessions: async_sessionmaker[AsyncSession], key: str) -> OutboxMessage:
    async with sessions() as session:
        result = await session.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
        return result.scalar_one()


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    limit: int = 10,
    lease: float = 60,
    chat_gap_seconds: float = 0.0,
) -> list[OutboxMessage]:
    async with sessions.begin() as session:
        return await claim_due(
            session,
            now=now,
            limit=limit,
            lease_seconds=lease,
            chat_gap_seconds=chat_gap_seconds,
        )


async def test_enqueue_dedupes_on_the_key(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await _add(sessions, "answer:1") is True
    assert await _add(sessions, "answer:1") is False
    assert await _add(sessions, "answer:2") is True
    async with sessions() as session:
        rows = list((await session.execute(select(OutboxMessage))).scalars())
    assert sorted(r.dedupe_key for r in rows) == ["answer:1", "answer:2"]
    row = await _row(sessions, "answer:1")
    assert row.status == "pending"
    assert row.attempts == 0
    assert row.payload == {"text": "<b>answer:1</b>"}
    assert row.next_attempt_at == T0
    assert row.created_at == T0


async def test_enqueue_is_part_of_the_callers_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await session.begin()
        assert await enqueue(
            session, kind="telegram", chat_id=1, payload={"text": "x"}, dedupe_key="rolled-back"
        )
        await session.rollback()
    async with sessions() as session:
        assert (await session.execute(select(OutboxMessage))).first() is None


async def test_claim_due_takes_due_rows_oldest_first_and_leases_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _add(sessions, "later", chat_id=3, now=T0 + timedelta(minutes=5))
    await _add(sessions, "second", chat_id=2, now=T0 + timedelta(seconds=2))
    await _add(sessions, "first", now=T0)
    claimed = await _claim(sessions, T0 + timedelta(seconds=10), lease=30)
    assert [m.dedupe_key for m in claimed] == ["first", "second"]
    for key in ("first", "second"):
        row = await _row(sessions, key)
        assert row.status == "sending"
        assert row.attempts == 1
        assert row.lease_until == T0 + timedelta(seconds=40)
    assert (await _row(sessions, "later")).status == "pending"
    # Leased rows are not taken again while the lease runs.
    assert await _claim(sessions, T0 + timedelta(seconds=20)) == []
    # The limit is honoured; once their lease ran out the leased rows are due again, oldest
    # first.
    later = await _claim(sessions, T0 + timedelta(hours=1), limit=2)
    assert [m.dedupe_key for m in later] == ["first", "second"]
    assert [m.dedupe_key for m in await _claim(sessions, T0 + timedelta(hours=1))] == ["later"]


async def test_a_chat_is_served_by_one_dispatcher_at_a_time_and_paced(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What several dispatchers on one database rely on: while a chat has a message being
    sent, or sent less than the gap ago, its other rows are not claimed."""
    await _add(sessions, "a1", chat_id=7)
    await _add(sessions, "a2", chat_id=7, now=T0 + timedelta(seconds=1))
    await _add(sessions, "b1", chat_id=8, now=T0 + timedelta(seconds=2))
    [first] = await _claim(sessions, T0 + timedelta(seconds=5), limit=1)
    assert first.dedupe_key == "a1"
    # Another dispatcher, meanwhile: chat 7 is busy, chat 8 is free.
    other = await _claim(sessions, T0 + timedelta(seconds=5), limit=5)
    assert [m.dedupe_key for m in other] == ["b1"]
    async with sessions.begin() as session:
        row = await session.get(OutboxMessage, first.id)
        assert row is not None
        mark_sent(row, now=T0 + timedelta(seconds=6))
    gap = {"chat_gap_seconds": 1.0}
    assert await _claim(sessions, T0 + timedelta(seconds=6.5), **gap) == []  # too soon
    later = await _claim(sessions, T0 + timedelta(seconds=7.5), **gap)
    assert [m.dedupe_key for m in later] == ["a2"]


async def test_an_expired_lease_comes_back(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessions, "abandoned")
    assert len(await _claim(sessions, T0, lease=60)) == 1
    assert await _claim(sessions, T0 + timedelta(seconds=59)) == []
    again = await _claim(sessions, T0 + timedelta(seconds=61), lease=60)
    assert [m.dedupe_key for m in again] == ["abandoned"]
    row = await _row(sessions, "abandoned")
    assert row.attempts == 2
    assert row.lease_until == T0 + timedelta(seconds=121)


def test_backoff_grows_is_capped_and_respects_retry_after() -> None:
    ceilings = [backoff_delay(n, rand=lambda: 1.0) for n in range(1, 12)]
    assert ceilings[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert ceilings == sorted(ceilings)
    assert max(ceilings) == BACKOFF_CAP_SECONDS
    assert all(0 <= backoff_delay(n) <= BACKOFF_CAP_SECONDS for n in range(1, 40))
    assert backoff_delay(3, rand=lambda: 0.0) == 0.0  # full jitter
    assert backoff_delay(1, retry_after=30, rand=lambda: 1.0) == 30
    assert backoff_delay(9, retry_after=30, rand=lambda: 1.0) == 512.0


async def test_failures_back_off_and_end_dead_after_max_attempts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _add(sessions, "flaky")
    now = T0
    delays: list[float] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [claimed] = await _claim(sessions, now)
        assert claimed.attempts == attempt
        async with sessions.begin() as session:
            row = await session.get(OutboxMessage, claimed.id)
            assert row is not None
            status = mark_failed(
                row, f"error {attempt}", now=now, retry_after=None, permanent=False, rand=lambda: 1
            )
        row = await _row(sessions, "flaky")
        assert row.last_error == f"error {attempt}"
        assert row.lease_until is None
        if attempt < MAX_ATTEMPTS:
            assert status == "pending"
            delay = (row.next_attempt_at - now).total_seconds()
            delays.append(delay)
            # Not due before its backoff, due after.
            assert await _claim(sessions, now + timedelta(seconds=delay - 0.5)) == []
            now = row.next_attempt_at
        else:
            assert status == "dead"
            assert row.status == "dead"
    assert delays == sorted(delays) and delays[0] == 2.0 and delays[-1] > delays[0]
    assert await _claim(sessions, now + timedelta(days=1)) == []


async def test_retry_after_is_a_lower_bound(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessions, "flood")
    [claimed] = await _claim(sessions, T0)
    async with sessions.begin() as session:
        row = await session.get(OutboxMessage, claimed.id)
        assert row is not None
        mark_failed(row, "429", now=T0, retry_after=42, permanent=False, rand=lambda: 0.0)
    assert (await _row(sessions, "flood")).next_attempt_at == T0 + timedelta(seconds=42)


async def test_permanent_failure_is_dead_at_once_and_retry_dead_revives_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _add(sessions, "blocked")
    [claimed] = await _claim(sessions, T0)
    async with sessions.begin() as session:
        row = await session.get(OutboxMessage, claimed.id)
        assert row is not None
        assert mark_failed(row, "Forbidden: bot was blocked by the user", now=T0, permanent=True)
    row = await _row(sessions, "blocked")
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error == "Forbidden: bot was blocked by the user"

    async with sessions.begin() as session:
        assert await retry_dead(session, row.id) is True
        assert await retry_dead(session, row.id) is False  # no longer dead
        assert await retry_dead(session, 999_999) is False
    row = await _row(sessions, "blocked")
    assert (row.status, row.attempts) == ("pending", 0)
    assert [m.id for m in await _claim(sessions, utcnow())] == [row.id]


async def test_outbox_stats(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        empty = await outbox_stats(session, T0)
    assert empty == {
        "pending": 0,
        "sending": 0,
        "sent": 0,
        "dead": 0,
        "oldest_pending_age_seconds": None,
    }
    for index in range(5):
        await _add(sessions, f"m{index}", chat_id=index, now=T0 + timedelta(seconds=index))
    claimed = await _claim(sessions, T0 + timedelta(seconds=1), limit=2)
    async with sessions.begin() as session:
        sent = await session.get(OutboxMessage, claimed[0].id)
        assert sent is not None
        mark_sent(sent, now=T0 + timedelta(seconds=2))
    [dead] = await _claim(sessions, T0 + timedelta(seconds=2), limit=1)
    async with sessions.begin() as session:
        row = await session.get(OutboxMessage, dead.id)
        assert row is not None
        mark_failed(row, "boom", now=T0, permanent=True)
    async with sessions() as session:
        stats = await outbox_stats(session, T0 + timedelta(seconds=100))
    assert stats == {
        "pending": 2,
        "sending": 1,
        "sent": 1,
        "dead": 1,
        "oldest_pending_age_seconds": 97.0,
    }
    assert (await _row(sessions, "m0")).sent_at == T0 + timedelta(seconds=2)


async def test_concurrent_claims_never_take_the_same_row(
    sessions: async_sessionmaker[AsyncSession], pg_or_sqlite: AsyncEngine
) -> None:
    if pg_or_sqlite.dialect.name != "postgresql":
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are a PostgreSQL feature")
    for index in range(30):
        await _add(sessions, f"c{index}", chat_id=index)
    start = asyncio.Event()

    async def claimer() -> list[int]:
        async with sessions.begin() as session:
            await start.wait()
            rows = await claim_due(
                session, now=T0 + timedelta(seconds=1), limit=8, lease_seconds=60
            )
            # Hold the transaction (and the row locks) while the others claim.
            await asyncio.sleep(0.2)
            return [row.id for row in rows]

    tasks = [asyncio.create_task(claimer()) for _ in range(3)]
    await asyncio.sleep(0.05)
    start.set()
    results = await asyncio.gather(*tasks)
    claimed = [message_id for ids in results for message_id in ids]
    assert all(len(ids) == 8 for ids in results)
    assert len(claimed) == len(set(claimed)) == 24
    async with sessions() as session:
        stats = await outbox_stats(session, T0)
    assert (stats["pending"], stats["sending"]) == (6, 24)


async def test_forget_messages_of_an_erased_citizen(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Their chat's messages and any message naming them go, whatever their status; one
    being sent keeps its row for the dispatcher, emptied."""
    identity = identity_of(42, [("Zoë Dupont", "zoe@example.org", "+32470123456")])
    async with sessions.begin() as session:
        for key, chat_id, payload in [
            ("answer", 42, {"text": "Bonjour"}),
            ("coach-contact", 7, {"text": "<b>Nom</b> : Zoë Dupont"}),
            ("webhook", None, {"body": {"proposal": {"contact_email": "zoe@example.org"}}}),
            ("sending", 9, {"text": "Tél. +32470123456"}),
            ("other", 7, {"text": "Zoë Dupontel, 50%_off"}),  # another person: stays
            ("unrelated", 8, {"text": "Bonjour"}),
        ]:
            await enqueue(
                session, kind="telegram", chat_id=chat_id, payload=payload, dedupe_key=key, now=T0
            )
    await set_status(sessions, "answer", "sent")
    await set_status(sessions, "sending", "sending")
    async with sessions.begin() as session:
        forgotten = await forget_messages(session, chat_id=42, identity=identity)
    assert forgotten == 4
    async with sessions() as session:
        left = {m.dedupe_key: m for m in (await session.execute(select(OutboxMessage))).scalars()}
    assert set(left) == {"sending", "other", "unrelated"}
    assert left["sending"].payload == {} and left["sending"].chat_id is None


async def set_status(sessions: async_sessionmaker[AsyncSession], key: str, status: str) -> None:
    async with sessions.begin() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
        ).scalar_one()
        row.status = status
