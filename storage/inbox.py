"""The inbox: every Telegram update, stored before Telegram is told it arrived.

The receiving side (long polling or the webhook) calls `store_updates` and commits before it
asks Telegram for the next updates or answers the webhook's request, so a crash loses
nothing Telegram considers delivered. Workers then claim stored updates with `claim_due`,
apply them and record the outcome. Row life cycle::

    store --> pending --claim_due--> processing --mark_done--> done --prune_done--> (gone)
                 ^                        |
                 +-------mark_failed------+--(MAX_ATTEMPTS)--> parked --retry_parked--> pending

Exactly once: the conversation's change and the answer (`record_result`) are committed in
one transaction; an update claimed again (its worker died before sending the answer) finds
its answer there (`applied_result`) instead of being applied a second time.

In order per chat: only a chat's oldest unfinished update can be claimed, so the updates of
one chat run one after the other across every process, whatever order they arrived in, and
different chats run side by side. A `processing` row whose lease expired (its process died)
is claimable again. On PostgreSQL `claim_due` takes rows with ``FOR UPDATE SKIP LOCKED``, so
several processes never claim the same row; SQLite has no row locks (one bot process per
SQLite database).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.clock import utcnow
from storage.database import counts_by_status, dialect_insert, lease
from storage.models import (
    UNFINISHED,
    UPDATE_DONE,
    UPDATE_PARKED,
    UPDATE_PENDING,
    UPDATE_PROCESSING,
    UPDATE_STATUSES,
    Conversation,
    InboxUpdate,
)
from storage.outbox import MAX_ERROR_LENGTH, backoff_delay

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
KEEP_DONE = timedelta(days=2)
"""How long a done update's id is kept: Telegram redelivers an update for at most a day."""


@dataclass(frozen=True)
class UpdateKey:
    """Which update: Telegram's `update_id` is unique per bot only."""

    bot_id: int
    update_id: int


@dataclass(frozen=True)
class IncomingUpdate:
    """An update as received: its id, its chat (None for the few without one) and the JSON."""

    update_id: int
    chat_id: int | None
    payload: dict[str, Any]


class InboxStats(TypedDict):
    pending: int
    processing: int
    done: int
    parked: int
    retrying: int
    """Pending updates that have failed at least once."""
    oldest_pending_age_seconds: float | None


async def store_updates(
    session: AsyncSession,
    bot_id: int,
    updates: Sequence[IncomingUpdate],
    *,
    now: datetime | None = None,
) -> int:
    """Add the updates not stored yet; returns how many were new. Does not commit.

    Each row keeps the chat's language of the moment, read in the same statement.
    """
    moment = now or utcnow()
    insert = dialect_insert(session)
    added = 0
    for incoming in updates:
        language: Any = None
        if incoming.chat_id is not None:
            language = (
                select(Conversation.language)
                .where(Conversation.chat_id == incoming.chat_id)
                .scalar_subquery()
            )
        statement = (
            insert(InboxUpdate)
            .values(
                bot_id=bot_id,
                update_id=incoming.update_id,
                chat_id=incoming.chat_id,
                payload=incoming.payload,
                language=language,
                status=UPDATE_PENDING,
                attempts=0,
                next_attempt_at=moment,
                received_at=moment,
            )
            .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            .returning(InboxUpdate.update_id)
        )
        if (await session.execute(statement)).scalar_one_or_none() is not None:
            added += 1
    return added


async def claim_due(
    session: AsyncSession,
    *,
    bot_id: int,
    now: datetime,
    limit: int,
    lease_seconds: float,
) -> list[InboxUpdate]:
    """Take up to `limit` updates of `bot_id` that may run now, oldest first, and lease them
    until now + lease_seconds. Each claim counts as an attempt. Does not commit: claim in a
    short transaction of its own.

    May run: pending and due, or processing with an expired lease; and no older update of
    the same chat is still unfinished (a chat's update waiting for its retry holds back the
    chat's later ones).
    """
    older = aliased(InboxUpdate)
    older_unfinished = exists().where(
        older.bot_id == InboxUpdate.bot_id,
        older.chat_id == InboxUpdate.chat_id,
        older.update_id < InboxUpdate.update_id,
        older.status.in_(UNFINISHED),
    )
    due = or_(
        and_(InboxUpdate.status == UPDATE_PENDING, InboxUpdate.next_attempt_at <= now),
        and_(InboxUpdate.status == UPDATE_PROCESSING, InboxUpdate.lease_until < now),
    )
    statement = (
        select(InboxUpdate)
        .where(InboxUpdate.bot_id == bot_id, due, ~older_unfinished)
        .order_by(InboxUpdate.update_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    until = now + timedelta(seconds=lease_seconds)
    return await lease(session, statement, UPDATE_PROCESSING, until)


async def record_result(session: AsyncSession, key: UpdateKey, result: dict[str, Any]) -> None:
    """Keep the answer of an update, in the transaction that applies it. Does not commit."""
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.bot_id == key.bot_id, InboxUpdate.update_id == key.update_id)
        .values(result=result)
    )


async def applied_result(session: AsyncSession, key: UpdateKey) -> dict[str, Any] | None:
    """The answer of an update already applied (empty once it was sent), None if it has not
    been applied."""
    row = (
        await session.execute(
            select(InboxUpdate.status, InboxUpdate.result).where(
                InboxUpdate.bot_id == key.bot_id, InboxUpdate.update_id == key.update_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    status, result = row
    if result is not None:
        return dict(result)
    return {} if status == UPDATE_DONE else None


async def mark_done(
    session: AsyncSession, bot_id: int, update_ids: Collection[int], *, now: datetime | None = None
) -> None:
    """Applied and answered: the citizen's words, the answer and the chat are dropped, the
    id stays (`KEEP_DONE`) so that a redelivery is recognised. Does not commit."""
    if not update_ids:
        return
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.bot_id == bot_id, InboxUpdate.update_id.in_(update_ids))
        .values(
            status=UPDATE_DONE,
            done_at=now or utcnow(),
            chat_id=None,
            payload=None,
            result=None,
            lease_until=None,
            last_error=None,
        )
    )


async def forget_chat(session: AsyncSession, chat_id: int) -> None:
    """The citizen of this chat erased their data: the updates set aside unhandled (parked,
    with their words) are deleted, and no finished one keeps the chat. Does not commit."""
    await session.execute(
        delete(InboxUpdate).where(
            InboxUpdate.chat_id == chat_id, InboxUpdate.status == UPDATE_PARKED
        )
    )
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.chat_id == chat_id, InboxUpdate.status == UPDATE_DONE)
        .values(chat_id=None)
    )


async def mark_failed(
    session: AsyncSession,
    key: UpdateKey,
    error: str,
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> str | None:
    """Record a failed try; returns the new status (``pending``, or ``parked`` after
    MAX_ATTEMPTS), None if the update is gone or already done. Does not commit."""
    moment = now or utcnow()
    row = await session.get(
        InboxUpdate,
        (key.bot_id, key.update_id),
        with_for_update=True,
        populate_existing=True,
    )
    if row is None or row.status not in UNFINISHED:
        return None
    row.last_error = error[:MAX_ERROR_LENGTH]
    row.lease_until = None
    if row.attempts >= MAX_ATTEMPTS:
        row.status = UPDATE_PARKED
    else:
        row.status = UPDATE_PENDING
        delay = backoff_delay(
            row.attempts, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, rand=rand
        )
        row.next_attempt_at = moment + timedelta(seconds=delay)
    await session.flush()
    return row.status


async def parked_updates(session: AsyncSession, limit: int = 100) -> list[InboxUpdate]:
    """Updates that could not be handled, newest first (for staff)."""
    statement = (
        select(InboxUpdate)
        .where(InboxUpdate.status == UPDATE_PARKED)
        .order_by(InboxUpdate.received_at.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def retry_parked(session: AsyncSession, key: UpdateKey) -> bool:
    """Put a parked update back in the inbox, due now, with a fresh attempt count. False if
    there is no such update or it is not parked. Does not commit."""
    row = await session.get(InboxUpdate, (key.bot_id, key.update_id), with_for_update=True)
    if row is None or row.status != UPDATE_PARKED:
        return False
    row.status = UPDATE_PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    await session.flush()
    return True


async def prune_done(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Forget done updates older than `KEEP_DONE`; returns how many. Does not commit."""
    before = (now or utcnow()) - KEEP_DONE
    result = await session.execute(
        delete(InboxUpdate).where(InboxUpdate.status == UPDATE_DONE, InboxUpdate.done_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def inbox_stats(session: AsyncSession, now: datetime | None = None) -> InboxStats:
    """Counts by status, the pending updates that are being retried, and the age in seconds
    of the oldest unfinished update."""
    moment = now or utcnow()
    counts = await counts_by_status(session, InboxUpdate.status, UPDATE_STATUSES)
    retrying = (
        await session.execute(
            select(func.count()).where(
                InboxUpdate.status == UPDATE_PENDING, InboxUpdate.attempts > 0
            )
        )
    ).scalar_one()
    oldest = (
        await session.execute(
            select(func.min(InboxUpdate.received_at)).where(InboxUpdate.status.in_(UNFINISHED))
        )
    ).scalar_one_or_none()
    age = None if oldest is None else max(0.0, (moment - oldest).total_seconds())
    return InboxStats(
        pending=counts[UPDATE_PENDING],
        processing=counts[UPDATE_PROCESSING],
        done=counts[UPDATE_DONE],
        parked=counts[UPDATE_PARKED],
        retrying=int(retrying),
        oldest_pending_age_seconds=age,
    )
