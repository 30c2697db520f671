"""The outbox: outgoing messages written in the same transaction as the change that causes them.

Every message that is not a direct reply (an official answer to a citizen, later coach alerts,
staff notifications, digests) is added with `enqueue` inside the caller's transaction, so it
exists if and only if the change was committed. A dispatcher (`bot.delivery.dispatcher`) claims due
rows with `claim_due`, sends them and records the outcome with `mark_sent` / `mark_failed`.

Row life cycle::

    pending --claim_due--> sending --mark_sent--> sent
       ^                      |
       +------mark_failed-----+--(permanent or MAX_ATTEMPTS)--> dead --retry_dead--> pending

A `sending` row whose lease expired (its dispatcher died mid-send) is claimable again.
`attempts` counts claims, so a row that keeps killing its dispatcher ends dead too.

Concurrency: on PostgreSQL `claim_due` locks the rows it takes with
``FOR UPDATE SKIP LOCKED``, so several dispatchers never take the same row. SQLite has no row
locks: run a single dispatcher per SQLite database.
"""

from __future__ import annotations

import html
import json
import random
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import (
    Text,
    and_,
    cast,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.clock import utcnow
from storage.database import counts_by_status, dialect_insert, lease
from storage.models import DEAD, PENDING, SENDING, SENT, STATUSES, OutboxMessage
from storage.redaction import Identity

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
MAX_ERROR_LENGTH = 2000


class OutboxStats(TypedDict):
    pending: int
    sending: int
    sent: int
    dead: int
    oldest_pending_age_seconds: float | None


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    chat_id: int | None,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime | None = None,
) -> bool:
    """Add a message unless one with `dedupe_key` exists; True if a row was added.

    Does not commit: the row becomes visible with the caller's transaction.
    """
    moment = now or utcnow()
    insert = dialect_insert(session)
    statement = (
        insert(OutboxMessage)
        .values(
            kind=kind,
            chat_id=chat_id,
            payload=payload,
            dedupe_key=dedupe_key,
            status=PENDING,
            attempts=0,
            next_attempt_at=moment,
            created_at=moment,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none() is not None


async def hold(session: AsyncSession, dedupe_key: str, until: datetime) -> int | None:
    """Keep the pending message queued under `dedupe_key` from leaving before `until` (a
    change that can still be undone); its id, or None when there is none.

    Call it in the transaction that queued the message: no dispatcher has seen it then."""
    message = await outbox_row(session, dedupe_key)
    if message is None or message.status != PENDING:
        return None
    message.next_attempt_at = max(message.next_attempt_at, until)
    await session.flush()
    return message.id


async def cancel_unsent(session: AsyncSession, message_ids: Collection[int]) -> list[int]:
    """Delete those of the messages that did not reach their reader (pending, or dead); the
    ids of the others that still exist (being sent or sent: the reader may have them).

    The delete re-checks the status row by row, so a message that a dispatcher claims at
    the same moment is either cancelled or reported as gone out, never both."""
    if not message_ids:
        return []
    ids = list(message_ids)
    await session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status.in_((PENDING, DEAD)))
        .execution_options(synchronize_session=False)
    )
    left = await session.execute(select(OutboxMessage.id).where(OutboxMessage.id.in_(ids)))
    return sorted(left.scalars())


def _due(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == SENDING, OutboxMessage.lease_until < now),
    )


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    skip_chats: Collection[int | None] = (),
    chat_gap_seconds: float = 0.0,
) -> list[OutboxMessage]:
    """Take up to `limit` due rows, oldest first, and lease them until now + lease_seconds.

    Due: pending with next_attempt_at <= now, or sending with an expired lease. Rows of
    `skip_chats` (chats the caller is still sending to, or must not send to yet) are left,
    so each chat's rows keep their order. Rows locked by another transaction are skipped
    (PostgreSQL). Each claim counts as an attempt. Does not commit: claim in a short
    transaction of its own.

    Per chat, rows go out one at a time and in order, across dispatchers too (one PostgreSQL
    database): only a chat's oldest unsent row (pending or sending) may be claimed, and not
    sooner than `chat_gap_seconds` after the chat's last message was sent. So a row waiting
    for its retry holds back the later rows of its chat (an edit never overtakes the message
    it edits), and a second dispatcher never sends to a chat the first one is serving.
    """
    other = aliased(OutboxMessage)
    same_chat = other.chat_id == OutboxMessage.chat_id
    older_unsent = exists().where(
        same_chat, other.id < OutboxMessage.id, other.status.in_((PENDING, SENDING))
    )
    conditions = [_due(now), ~older_unsent]
    if chat_gap_seconds > 0:
        just_sent = exists().where(
            same_chat,
            other.status == SENT,
            other.sent_at > now - timedelta(seconds=chat_gap_seconds),
        )
        conditions.append(~just_sent)
    skipped_ids = [chat for chat in skip_chats if chat is not None]
    if skipped_ids:
        conditions.append(
            or_(OutboxMessage.chat_id.is_(None), OutboxMessage.chat_id.not_in(skipped_ids))
        )
    if None in skip_chats:
        conditions.append(OutboxMessage.chat_id.is_not(None))
    statement = (
        select(OutboxMessage)
        .where(*conditions)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return await lease(session, statement, SENDING, now + timedelta(seconds=lease_seconds))


def mark_sent(
    message: OutboxMessage, *, now: datetime | None = None, message_id: int | None = None
) -> None:
    """Telegram (or the webhook) accepted the message. The caller commits."""
    message.status = SENT
    message.sent_at = now or utcnow()
    message.sent_message_id = message_id
    message.lease_until = None
    message.last_error = None


def backoff_delay(
    attempts: int,
    retry_after: float | None = None,
    *,
    base: float | None = None,
    cap: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next try after `attempts` failed tries.

    Full jitter: uniform in [0, min(cap, base * 2**(attempts-1))], never under `retry_after`.
    `base` and `cap` default to the outbox's (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS).
    """
    base = BACKOFF_BASE_SECONDS if base is None else base
    cap = BACKOFF_CAP_SECONDS if cap is None else cap
    exponent = max(0, attempts - 1)
    ceiling = min(cap, base * 2.0 ** min(exponent, 32))
    delay = rand() * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def mark_failed(
    message: OutboxMessage,
    error: str,
    *,
    now: datetime | None = None,
    retry_after: float | None = None,
    permanent: bool = False,
    rand: Callable[[], float] = random.random,
) -> str:
    """Record a failed try; returns the new status (``pending`` or ``dead``). Caller commits.

    Dead when `permanent` or after MAX_ATTEMPTS; otherwise retried after `backoff_delay`.
    """
    moment = now or utcnow()
    message.last_error = error[:MAX_ERROR_LENGTH]
    message.lease_until = None
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = DEAD
    else:
        message.status = PENDING
        delay = backoff_delay(message.attempts, retry_after, rand=rand)
        message.next_attempt_at = moment + timedelta(seconds=delay)
    return message.status


def release(message: OutboxMessage, *, not_before: datetime) -> None:
    """Give back a claimed row that was not tried (the attempt is not counted)."""
    message.status = PENDING
    message.lease_until = None
    message.attempts = max(0, message.attempts - 1)
    message.next_attempt_at = max(message.next_attempt_at, not_before)


async def outbox_stats(session: AsyncSession, now: datetime | None = None) -> OutboxStats:
    """Row counts by status and the age in seconds of the oldest pending row."""
    moment = now or utcnow()
    counts = await counts_by_status(session, OutboxMessage.status, STATUSES)
    oldest = (
        await session.execute(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == PENDING)
        )
    ).scalar_one_or_none()
    age = None if oldest is None else max(0.0, (moment - oldest).total_seconds())
    return OutboxStats(
        pending=counts[PENDING],
        sending=counts[SENDING],
        sent=counts[SENT],
        dead=counts[DEAD],
        oldest_pending_age_seconds=age,
    )


async def retry_dead(session: AsyncSession, message_id: int) -> bool:
    """Put a dead message back in the queue, due now, with a fresh attempt count.

    False if there is no such message or it is not dead. Does not commit.
    """
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.status != DEAD:
        return False
    message.status = PENDING
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.lease_until = None
    await session.flush()
    return True


async def forget_messages(
    session: AsyncSession,
    *,
    identity: Identity,
    chat_id: int | None = None,
    dedupe_keys: Collection[str] = (),
) -> int:
    """Forget the messages about a citizen whose data is erased.

    A message to `chat_id` (the citizen erased everything), one of `dedupe_keys` (messages
    about one proposal), or whose payload names the citizen (their full name, e-mail or
    phone as a whole word: `Identity.pattern`) is deleted, sent or not: a citizen who
    erased their data is not written to again. One being sent at this moment keeps its row
    for its dispatcher, without chat or payload. Returns how many were forgotten. Does not
    commit.
    """
    payload_text = cast(OutboxMessage.payload, Text)
    conditions = [payload_text.contains(needle, autoescape=True) for needle in identity.needles()]
    if dedupe_keys:
        conditions.append(OutboxMessage.dedupe_key.in_(list(dedupe_keys)))
    if chat_id is not None:
        conditions.append(OutboxMessage.chat_id == chat_id)
    if not conditions:
        return 0
    pattern = identity.pattern(name_parts=False)
    forgotten = 0
    for row in (await session.execute(select(OutboxMessage).where(or_(*conditions)))).scalars():
        written = html.unescape(json.dumps(row.payload, ensure_ascii=False))
        chosen = (chat_id is not None and row.chat_id == chat_id) or row.dedupe_key in dedupe_keys
        if not chosen and not pattern.search(written):
            continue  # another person whose name contains theirs
        forgotten += 1
        if row.status == SENDING:
            row.chat_id = None
            row.payload = {}
        else:
            await session.delete(row)
    await session.flush()
    return forgotten


async def outbox_row(session: AsyncSession, dedupe_key: str) -> OutboxMessage | None:
    """The message queued under `dedupe_key`, if any."""
    result = await session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    )
    return result.scalar_one_or_none()


async def get_message(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    """The row, locked for update where the database can."""
    return await session.get(
        OutboxMessage, message_id, with_for_update=True, populate_existing=True
    )
