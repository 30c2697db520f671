"""Signed-in back-office sessions, kept on the server so that they can be ended.

A session lives at most `SESSION_LIFETIME` after sign-in and ends sooner when unused for
the idle period the caller passes (a setting). Signing out deletes it; its owner can end
their other sessions, an administrator every session of an account, and removing an
account deletes its sessions with it (foreign key ON DELETE CASCADE). Only a SHA-256 of
each session's token is stored, as for API tokens.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.api_tokens import hash_token
from storage.clock import utcnow
from storage.models.staff import ADDRESS_LENGTH, USER_AGENT_LENGTH, StaffSession, StaffUser

SESSION_LIFETIME = timedelta(hours=12)
TOUCH_INTERVAL = timedelta(minutes=1)
"""`last_seen_at` is written at most this often, so that most pages read without writing."""


def _expired(idle: timedelta, now: datetime) -> ColumnElement[bool]:
    return or_(
        StaffSession.created_at <= now - SESSION_LIFETIME,
        StaffSession.last_seen_at <= now - idle,
    )


async def open_staff_session(
    session: AsyncSession,
    staff_id: int,
    *,
    address: str,
    user_agent: str,
    now: datetime | None = None,
) -> str:
    """Store a new session for the account and return its token (for the cookie only)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=hash_token(token),
            staff_id=staff_id,
            created_at=now,
            last_seen_at=now,
            address=address[:ADDRESS_LENGTH],
            user_agent=user_agent[:USER_AGENT_LENGTH],
        )
    )
    await session.flush()
    return token


async def signed_in(
    session: AsyncSession, token: str, *, idle: timedelta, now: datetime | None = None
) -> tuple[StaffSession, StaffUser] | None:
    """The live session whose token this is and its account, its use recorded; None when
    the session was ended or has expired (an expired one is deleted)."""
    now = now or utcnow()
    found = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == hash_token(token))
        )
    ).one_or_none()
    if found is None:
        return None
    staff_session, staff = found
    if staff_session.created_at <= now - SESSION_LIFETIME or (
        staff_session.last_seen_at <= now - idle
    ):
        await session.delete(staff_session)
        await session.flush()
        return None
    if now - staff_session.last_seen_at >= TOUCH_INTERVAL:
        staff_session.last_seen_at = now
        await session.flush()
    return staff_session, staff


async def live_sessions_of(
    session: AsyncSession, staff_id: int, *, idle: timedelta, now: datetime | None = None
) -> list[StaffSession]:
    """The account's sessions that have not expired, most recently used first."""
    now = now or utcnow()
    result = await session.execute(
        select(StaffSession)
        .where(StaffSession.staff_id == staff_id, ~_expired(idle, now))
        .order_by(StaffSession.last_seen_at.desc(), StaffSession.id.desc())
    )
    return list(result.scalars())


async def live_session_counts(
    session: AsyncSession, *, idle: timedelta, now: datetime | None = None
) -> dict[int, int]:
    """How many live sessions each account has (accounts without any are left out)."""
    now = now or utcnow()
    result = await session.execute(
        select(StaffSession.staff_id, func.count())
        .where(~_expired(idle, now))
        .group_by(StaffSession.staff_id)
    )
    return {staff_id: count for staff_id, count in result}


async def end_session(session: AsyncSession, token: str) -> None:
    """Sign out: the session of this token no longer exists."""
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))


async def end_sessions_of(
    session: AsyncSession,
    staff_id: int,
    *,
    session_id: int | None = None,
    keep_id: int | None = None,
) -> int:
    """End the account's session `session_id`, or all of them but `keep_id`; how many ended.

    A session id of another account ends nothing.
    """
    statement = delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if session_id is not None:
        statement = statement.where(StaffSession.id == session_id)
    if keep_id is not None:
        statement = statement.where(StaffSession.id != keep_id)
    result = await session.execute(statement.returning(StaffSession.id))
    return len(result.all())


async def delete_expired_sessions(
    session: AsyncSession, *, idle: timedelta, now: datetime | None = None
) -> int:
    """Forget sessions nobody can use any more; how many were deleted."""
    result = await session.execute(
        delete(StaffSession).where(_expired(idle, now or utcnow())).returning(StaffSession.id)
    )
    return len(result.all())
