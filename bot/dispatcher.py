"""The outbox dispatcher: sends what `storage.outbox` holds, paced, with retries.

Each round claims a batch of due rows in one short transaction (rows become ``sending`` with a
lease), sends them (one task per chat, so a slow chat does not hold up the others), and records
each outcome in its own short transaction right after the send.

Delivery is at-least-once, not exactly-once. A row is marked ``sent`` right after Telegram
accepted it, in a separate transaction: Telegram's sendMessage has no idempotency key, so a
send and a database commit can never be made atomic. If the dispatcher is killed between
Telegram's answer and that commit, or the commit fails, the row stays ``sending`` until its lease
expires and is then sent again: a rare duplicate. The opposite choice (mark sent before sending)
would silently lose messages on a crash, which is worse for an official answer. Rows are never
lost: they were written in the same transaction as the change that caused them, and a row
abandoned by a dead dispatcher comes back when its lease runs out. Keep `lease_seconds` well
above the time a batch can take to send (pacing included).

Errors: ``RetryAfter`` (429) retries no sooner than Telegram asks; ``TimedOut`` and other
``NetworkError`` (5xx, connection problems) retry with exponential backoff; ``Forbidden`` (the
user blocked the bot), ``BadRequest`` (bad HTML, chat not found) and unknown kinds are dead at
once with the error text; after `storage.outbox.MAX_ATTEMPTS` tries a row is dead as well.
After a retryable failure the chat's remaining messages in the batch are given back untried,
so one chat's messages keep their order within a batch.

Pacing: at most one message per `per_chat_interval` seconds to a chat and `global_rate` per
second overall (Telegram's limits are about 1 message/s per chat and 30/s per bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from storage.models import utcnow
from storage.outbox import (
    SENDING,
    OutboxMessage,
    claim_due,
    get_message,
    mark_failed,
    mark_sent,
    release,
)

log = logging.getLogger(__name__)

TELEGRAM = "telegram"


class PermanentError(Exception):
    """Sending this message can never succeed; it goes dead at once."""


class Pacer:
    """Spaces sends: one per `per_chat_interval` seconds per chat, `global_rate` per second.

    `wait(chat_id)` first waits for the chat's own next slot, then reserves the next free
    global slot (reservations happen before sleeping, so concurrent callers never share a
    slot) and waits for it; it returns the slot's clock time. A chat that must wait long
    (pace, or a 429) does not hold up the others. Callers send to one chat one at a time.
    `clock` and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        *,
        per_chat_interval: float,
        global_rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.per_chat_interval = per_chat_interval
        self.global_interval = 1.0 / global_rate if global_rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next_global = float("-inf")
        self._next_chat: dict[int | None, float] = {}

    def chat_ready_at(self, chat_id: int | None) -> float:
        return self._next_chat.get(chat_id, float("-inf"))

    def defer_chat(self, chat_id: int | None, seconds: float) -> None:
        """Nothing to this chat for `seconds` (after a 429)."""
        until = self.clock() + seconds
        self._next_chat[chat_id] = max(self.chat_ready_at(chat_id), until)

    def reserve_global(self) -> float:
        """Reserve the next global slot; returns the clock time it starts at."""
        slot = max(self.clock(), self._next_global)
        self._next_global = slot + self.global_interval
        return slot

    async def wait(self, chat_id: int | None) -> float:
        await self._sleep_until(self.chat_ready_at(chat_id))
        slot = self.reserve_global()
        await self._sleep_until(slot)
        self._next_chat[chat_id] = max(self.chat_ready_at(chat_id), slot + self.per_chat_interval)
        if len(self._next_chat) > 10_000:
            now = self.clock()
            self._next_chat = {chat: t for chat, t in self._next_chat.items() if t > now}
        return slot

    async def _sleep_until(self, moment: float) -> None:
        delay = moment - self.clock()
        if delay > 0:
            await self.sleep(delay)


def retry_after_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` in seconds: an int or a timedelta in PTB 22."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        batch: int = 20,
        lease_seconds: float = 60,
        idle_seconds: float = 1.0,
        per_chat_interval: float = 1.0,
        global_rate: float = 25.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bot = bot
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.pacer = Pacer(
            per_chat_interval=per_chat_interval, global_rate=global_rate, clock=clock, sleep=sleep
        )

    async def dispatch_once(self) -> int:
        """Claim one batch and try each message; returns how many were claimed."""
        async with self.sessionmaker.begin() as session:
            claimed = await claim_due(
                session, now=utcnow(), limit=self.batch, lease_seconds=self.lease_seconds
            )
        if not claimed:
            return 0
        by_chat: dict[int | None, list[OutboxMessage]] = {}
        for message in claimed:
            by_chat.setdefault(message.chat_id, []).append(message)
        await asyncio.gather(*(self._send_chat(messages) for messages in by_chat.values()))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set; sleep `idle_seconds` when nothing was due."""
        log.info("outbox dispatcher started")
        while not stop.is_set():
            try:
                count = await self.dispatch_once()
            except Exception:
                log.exception("outbox dispatch round failed")
                count = 0
            if count == 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_seconds):
                        await stop.wait()
        log.info("outbox dispatcher stopped")

    # ---- one chat ------------------------------------------------------------------------

    async def _send_chat(self, messages: list[OutboxMessage]) -> None:
        """Send one chat's messages in order; after a retryable failure give the rest back."""
        for index, message in enumerate(messages):
            try:
                retryable_until = await self._attempt(message)
            except Exception:
                # Never kill the round (or the loop): the lease brings the row back.
                log.exception("outbox message %s: unexpected error", message.id)
                retryable_until = None
            if retryable_until is not None:
                await self._release(messages[index + 1 :], retryable_until)
                return

    async def _attempt(self, message: OutboxMessage) -> datetime | None:
        """Send and record; returns when the chat may be tried again after a retryable
        failure, None otherwise."""
        try:
            await self.pacer.wait(message.chat_id)
            await self._send(message)
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self.pacer.defer_chat(message.chat_id, seconds)
            return await self._failed(message, str(error), retry_after=seconds)
        except (Forbidden, BadRequest, ChatMigrated, InvalidToken, PermanentError) as error:
            # InvalidToken: the bot's token is wrong; retrying will not help (staff can
            # retry_dead once it is fixed).
            await self._failed(message, _describe(error), permanent=True)
            return None
        except (NetworkError, TelegramError) as error:  # TimedOut is a NetworkError
            return await self._failed(message, _describe(error))
        except Exception as error:
            log.exception("outbox message %s: unexpected error while sending", message.id)
            return await self._failed(message, _describe(error))
        await self._sent(message)
        return None

    async def _send(self, message: OutboxMessage) -> None:
        if message.kind != TELEGRAM:
            raise PermanentError(f"unknown outbox kind {message.kind!r}")
        text = message.payload.get("text") if isinstance(message.payload, dict) else None
        if message.chat_id is None or not isinstance(text, str) or not text:
            raise PermanentError("a telegram message needs a chat_id and a non-empty text")
        await self.bot.send_message(chat_id=message.chat_id, text=text, parse_mode=ParseMode.HTML)

    async def _failed(
        self,
        message: OutboxMessage,
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> datetime | None:
        async with self.sessionmaker.begin() as session:
            row = await get_message(session, message.id)
            if row is None or row.status != SENDING:
                return None
            status = mark_failed(
                row, error, now=utcnow(), retry_after=retry_after, permanent=permanent
            )
            next_attempt_at = row.next_attempt_at
        if status == "dead":
            log.warning("outbox message %s is dead: %s", message.id, error)
            return None
        log.info("outbox message %s failed, retry at %s: %s", message.id, next_attempt_at, error)
        return next_attempt_at

    async def _sent(self, message: OutboxMessage) -> None:
        async with self.sessionmaker.begin() as session:
            row = await get_message(session, message.id)
            if row is not None:
                mark_sent(row, now=utcnow())

    async def _release(self, messages: list[OutboxMessage], not_before: datetime) -> None:
        if not messages:
            return
        async with self.sessionmaker.begin() as session:
            for message in messages:
                row = await get_message(session, message.id)
                if row is not None and row.status == SENDING:
                    release(row, not_before=not_before)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"
