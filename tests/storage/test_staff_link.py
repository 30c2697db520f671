"""Staff accounts linked to Telegram (storage.staff): one-time, expiring link tokens, one
Telegram account per staff account, unlinking; on SQLite and PostgreSQL. And the legacy
`taken_by` giving way to the assignee (storage.assignment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.assignment import assign
from storage.database import create_engine, create_sessionmaker
from storage.models import StaffLinkToken, StaffUser
from storage.staff import (
    LINK_HOURS,
    add_staff,
    create_link_token,
    link_staff,
    pending_link_until,
    staff_by_telegram,
    unlink_staff,
)
from tests.clock import TEST_NOW
from tests.factories import make_proposal


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def staff(session: AsyncSession, name: str) -> StaffUser:
    return await add_staff(session, f"{name}@example.be", "not-a-hash", "reviewer", "nl")


async def test_a_link_token_works_once_and_only_its_hash_is_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna = await staff(session, "anna")
        token = await create_link_token(session, anna)
        until = await pending_link_until(session, anna.id)
        assert until is not None and until - TEST_NOW >= timedelta(hours=LINK_HOURS)
        stored = (await session.execute(select(StaffLinkToken.token_hash))).scalar_one()
        assert token not in stored and len(token) >= 24

        outcome = await link_staff(session, token, 901)
        assert outcome.status == "linked" and outcome.staff is not None
        assert outcome.staff.telegram_user_id == 901 and outcome.staff.telegram_linked_at
        assert await pending_link_until(session, anna.id) is None
        # opened again from the same Telegram account: still linked; from another: used
        assert (await link_staff(session, token, 901)).status == "linked"
        assert (await link_staff(session, token, 902)).status == "used"
        assert (await link_staff(session, "no-such-token", 902)).status == "unknown"
        found = await staff_by_telegram(session, 901)
        assert found is not None and found.id == anna.id


async def test_a_link_token_expires_and_a_new_one_replaces_the_unused_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna = await staff(session, "anna")
        old = await create_link_token(session, anna, TEST_NOW - timedelta(hours=LINK_HOURS + 1))
        assert await pending_link_until(session, anna.id) is None
        assert (await link_staff(session, old, 901)).status == "expired"
        first = await create_link_token(session, anna)
        second = await create_link_token(session, anna)
        assert (await link_staff(session, first, 901)).status == "unknown"
        assert (await link_staff(session, second, 901)).status == "linked"


async def test_one_telegram_account_links_one_staff_account(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna, bram = await staff(session, "anna"), await staff(session, "bram")
        await link_staff(session, await create_link_token(session, anna), 901)
        outcome = await link_staff(session, await create_link_token(session, bram), 901)
        assert outcome.status == "other_staff"
        assert outcome.staff is not None and outcome.staff.id == anna.id
        assert bram.telegram_user_id is None
        # a staff member who links another Telegram account replaces the first
        await link_staff(session, await create_link_token(session, anna), 902)
        assert anna.telegram_user_id == 902
        assert await staff_by_telegram(session, 901) is None
    # and the database refuses a second account with the same Telegram id
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            bram_again = await session.get(StaffUser, bram.id)
            assert bram_again is not None
            bram_again.telegram_user_id = 902


async def test_unlinking_forgets_the_telegram_account(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna = await staff(session, "anna")
        await link_staff(session, await create_link_token(session, anna), 901)
        assert await unlink_staff(session, anna.id)
        assert not await unlink_staff(session, anna.id)
        assert await staff_by_telegram(session, 901) is None
        await session.refresh(anna)
        assert anna.telegram_user_id is None and anna.telegram_linked_at is None


async def test_an_assignment_retires_the_legacy_taken_by(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        anna = await staff(session, "anna")
        proposal = await make_proposal(session)
        proposal.taken_by, proposal.taken_at = "Ana (@ana)", TEST_NOW
        await session.flush()
        outcome = await assign(session, proposal, anna, actor="bram@example.be", expected=None)
        assert outcome.done and outcome.event is not None and outcome.event.kind == "assigned"
        assert proposal.taken_by is None and proposal.taken_at is None
