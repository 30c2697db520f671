"""Dashboard and metrics figures (storage.stats), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.database import create_sessionmaker
from storage.models import OutboxMessage
from storage.outbox import MAX_ATTEMPTS, claim_due, enqueue, mark_failed, mark_sent, retry_dead
from storage.review import ProposalFilters, search_proposals
from storage.stats import (
    NO_COMMUNE,
    REGION_WIDE,
    commune_counts,
    dead_letter_ids,
    dead_letters,
    outbox_failed_count,
    theme_counts,
    weekly_counts,
)
from tests.factories import make_citizen, make_proposal

# Thursday 4 June 2026, 10:00 in Brussels (summer time, UTC+2): ISO week 23.
NOW = datetime(2026, 6, 4, 8, 0, tzinfo=UTC)
THIS_MONDAY = date(2026, 6, 1)


@pytest.fixture
def sessions(pg_or_sqlite: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(pg_or_sqlite)


async def _propose(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    *,
    at: datetime = NOW,
    themes: list[str] | None = None,
    commune: str | None = None,
    region_wide: bool = False,
    is_test: bool = False,
) -> None:
    async with sessions.begin() as session:
        citizen = await make_citizen(session, 77, "fr")
        await make_proposal(
            session,
            citizen,
            now=at,
            submission_key=key,
            commune_refnis=commune,
            region_wide=region_wide,
            themes=themes or [],
            is_test=is_test,
        )


async def test_themes_count_each_proposal_once_per_theme(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _propose(sessions, "a", themes=["food", "compost"])
    await _propose(sessions, "b", themes=["compost"])
    await _propose(sessions, "c", themes=["compost", "compost"])  # a duplicate counts once
    await _propose(sessions, "d", themes=[])
    await _propose(sessions, "t", themes=["food", "water"], is_test=True)
    async with sessions() as session:
        counts = await theme_counts(session)
        assert counts == {"compost": 3, "food": 1}
        # Each bar links to the list filtered by its theme: both must agree.
        for theme, count in counts.items():
            _rows, total = await search_proposals(session, ProposalFilters(theme=theme))
            assert total == count


async def test_communes_with_the_region_as_its_own_bucket(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _propose(sessions, "a", commune="21004")
    await _propose(sessions, "b", commune="21004")
    await _propose(sessions, "c", commune="21013")
    await _propose(sessions, "d", region_wide=True)
    await _propose(sessions, "e")
    await _propose(sessions, "t", commune="21013", is_test=True)
    async with sessions() as session:
        assert await commune_counts(session) == {
            "21004": 2,
            "21013": 1,
            REGION_WIDE: 1,
            NO_COMMUNE: 1,
        }


async def test_weeks_in_brussels_time_with_empty_weeks(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # Monday 1 June, 00:30 in Brussels is still Sunday in UTC: it is this week's.
    await _propose(sessions, "monday-early", at=datetime(2026, 5, 31, 22, 30, tzinfo=UTC))
    # Sunday 31 May, 23:30 in Brussels: the week before.
    await _propose(sessions, "sunday-late", at=datetime(2026, 5, 31, 21, 30, tzinfo=UTC))
    await _propose(sessions, "now", at=NOW)
    # Monday 16 March 2026, 00:30 in Brussels (winter time, UTC+1): the oldest week shown.
    await _propose(sessions, "oldest", at=datetime(2026, 3, 15, 23, 30, tzinfo=UTC))
    # Sunday 15 March, 23:30 in Brussels: thirteen weeks ago, not shown.
    await _propose(sessions, "too-old", at=datetime(2026, 3, 15, 22, 30, tzinfo=UTC))
    await _propose(sessions, "test", at=NOW, is_test=True)
    async with sessions() as session:
        weeks = await weekly_counts(session, now=NOW)
    assert len(weeks) == 12
    assert [w.monday for w in weeks] == [
        THIS_MONDAY - timedelta(weeks=n) for n in range(11, -1, -1)
    ]
    assert weeks[0].monday == date(2026, 3, 16) and weeks[0].iso_week == (2026, 12)
    assert weeks[-1].iso_week == (2026, 23) and weeks[-1].sunday == date(2026, 6, 7)
    counts = {w.monday: w.count for w in weeks}
    assert counts[THIS_MONDAY] == 2
    assert counts[THIS_MONDAY - timedelta(weeks=1)] == 1
    assert counts[date(2026, 3, 16)] == 1
    assert sum(counts.values()) == 4


async def test_weeks_when_there_is_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        weeks = await weekly_counts(session, weeks=3, now=NOW)
    assert [(w.monday, w.count) for w in weeks] == [
        (date(2026, 5, 18), 0),
        (date(2026, 5, 25), 0),
        (THIS_MONDAY, 0),
    ]


async def _outbox(
    sessions: async_sessionmaker[AsyncSession], key: str, at: datetime, chat_id: int = 9
) -> None:
    async with sessions.begin() as session:
        await enqueue(
            session, kind="telegram", chat_id=chat_id, payload={"text": key}, dedupe_key=key, now=at
        )


async def _fail(
    sessions: async_sessionmaker[AsyncSession], at: datetime, *, permanent: bool
) -> None:
    """Claim the one due row and fail it."""
    async with sessions.begin() as session:
        (row,) = await claim_due(session, now=at, limit=1, lease_seconds=60)
        error = f"Forbidden: <bot was blocked> {row.dedupe_key}"
        mark_failed(row, error, now=at, permanent=permanent)


async def test_failed_and_dead_messages(sessions: async_sessionmaker[AsyncSession]) -> None:
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    for n, key in enumerate(["dead-1", "dead-2", "dead-3", "failing", "fine", "queued"]):
        # "failing" waits for its retry and holds back the later rows of its chat
        await _outbox(sessions, key, t0 + timedelta(minutes=n), chat_id=10 if n >= 4 else 9)
    later = t0 + timedelta(hours=1)
    for _ in range(3):
        await _fail(sessions, later, permanent=True)
    await _fail(sessions, later, permanent=False)  # "failing" waits for a retry
    async with sessions.begin() as session:
        (fine,) = await claim_due(session, now=later, limit=1, lease_seconds=60)
        assert fine.dedupe_key == "fine"
        mark_sent(fine)
    async with sessions() as session:
        assert await outbox_failed_count(session) == 1
        first, total = await dead_letters(session, page=1, per_page=2)
        second, _ = await dead_letters(session, page=2, per_page=2)
        ids = await dead_letter_ids(session)
    assert total == 3
    assert [d.dedupe_key for d in first + second] == ["dead-3", "dead-2", "dead-1"]
    assert sorted(ids) == ids and len(ids) == 3
    letter = first[0]
    assert letter.kind == "telegram" and letter.chat_id == 9 and letter.attempts == 1
    assert letter.last_error == "Forbidden: <bot was blocked> dead-3"
    assert letter.created_at == t0 + timedelta(minutes=2)
    async with sessions.begin() as session:
        assert await retry_dead(session, letter.id)
    async with sessions() as session:
        _rows, total = await dead_letters(session)
        assert total == 2
        # Put back in the queue, it still carries its last error until it is sent.
        assert await outbox_failed_count(session) == 2


async def test_a_message_dead_after_max_attempts_is_listed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    await _outbox(sessions, "stubborn", t0)
    async with sessions.begin() as session:
        row = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == "stubborn")
            )
        ).scalar_one()
        row.attempts = MAX_ATTEMPTS - 1
    await _fail(sessions, t0, permanent=False)
    async with sessions() as session:
        (letter,), total = await dead_letters(session)
        assert total == 1 and letter.attempts == MAX_ATTEMPTS
        assert await outbox_failed_count(session) == 0
