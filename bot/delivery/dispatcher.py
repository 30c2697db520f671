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

Kinds (the payload of each is described where it is enqueued; see `storage.outbox`):

- ``telegram``: ``{"text": <HTML>, "buttons": [[{"text", "callback_data" | "url"}, ...], ...]}``
  (buttons optional). Telegram's message id is kept in ``sent_message_id``.
- ``telegram_edit``: ``{"edit_of": <outbox id>, "text": <HTML>, "buttons": [...]}`` edits the
  message that another row sent. It waits while that row is not sent yet, and is dead if that
  row is dead. "Message is not modified" counts as done.
- ``webhook``: ``{"event": <name>, "body": <JSON object>}`` is POSTed to the external
  back-office (``BACKOFFICE_WEBHOOK_URL``) with ``X-Signature: sha256=<hex HMAC-SHA256 of the
  body bytes with BACKOFFICE_WEBHOOK_SECRET>``, ``X-Intake-Event`` and ``X-Intake-Delivery``
  (the dedupe key, so that the receiver can drop the rare duplicate). 2xx is done; 429 and
  5xx (``Retry-After`` honoured) and network errors are retried; other 4xx are dead at once.
  Webhooks are not paced like Telegram messages.

Errors: ``RetryAfter`` (429) retries no sooner than Telegram asks; ``TimedOut`` and other
``NetworkError`` (5xx, connection problems) retry with exponential backoff; ``Forbidden`` (the
user blocked the bot), ``BadRequest`` (bad HTML, chat not found) and unknown kinds are dead at
once with the error text; after `storage.outbox.MAX_ATTEMPTS` tries a row is dead as well.
Each chat's messages go out in the order they were queued, one at a time, retries included
(`storage.outbox.claim_due` only hands out a chat's oldest unsent row).

Pacing: at most one message per `per_chat_interval` seconds to a chat and `global_rate` per
second overall (Telegram's limits are about 1 message/s per chat and 30/s per bot). The
`Pacer` is ours because the claim loop needs to know which chats must wait (to leave their
rows unclaimed) and a 429 defers one chat only. Underneath, the process's bot carries
python-telegram-bot's `AIORateLimiter` (`bot.telegram.application.telegram_rate_limiter`), which
keeps every request of the process, direct replies included, under 30/s overall and
20/min per group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
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

from storage.clock import utcnow
from storage.models import DEAD, SENDING, SENT, OutboxMessage
from storage.outbox import claim_due, get_message, mark_failed, mark_sent, release

log = logging.getLogger(__name__)

TELEGRAM = "telegram"
TELEGRAM_EDIT = "telegram_edit"
WEBHOOK = "webhook"
EDIT_WAIT_SECONDS = 5.0
IDLE_MARGIN_SECONDS = 0.05
"""A chat whose next slot is further ahead than this is not claimed for now."""
WEBHOOK_TIMEOUT_SECONDS = 15.0


class PermanentError(Exception):
    """Sending this message can never succeed; it goes dead at once."""


class RetryLater(Exception):
    """A retryable failure outside Telegram (the webhook), maybe with the delay asked for."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotYet(Exception):
    """An edit whose message is not sent yet: try again later, no attempt counted."""


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str | None


def signature(secret: str | None, body: bytes) -> str:
    """The X-Signature header value for `body`."""
    key = (secret or "").encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def inline_keyboard(buttons: object) -> InlineKeyboardMarkup | None:
    """Payload buttons (rows of {"text", "callback_data" | "url"}) as Telegram markup."""
    if not buttons:
        return None
    if not isinstance(buttons, list) or not all(isinstance(row, list) for row in buttons):
        raise PermanentError("buttons must be a list of rows")
    rows = []
    for row in buttons:
        keys = []
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise PermanentError(f"bad button {button!r}")
            if isinstance(button.get("callback_data"), str):
                keys.append(
                    InlineKeyboardButton(button["text"], callback_data=button["callback_data"])
                )
            elif isinstance(button.get("url"), str):
                keys.append(InlineKeyboardButton(button["text"], url=button["url"]))
            else:
                raise PermanentError(f"button without callback_data or url: {button!r}")
        rows.append(keys)
    return InlineKeyboardMarkup(rows)


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

    def chats_waiting(self, margin: float) -> set[int | None]:
        """Chats whose next slot is more than `margin` seconds ahead."""
        horizon = self.clock() + margin
        return {chat for chat, ready in self._next_chat.items() if ready > horizon}

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
        webhook: Webhook | None = None,
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
        self.webhook = webhook
        self._http: aiohttp.ClientSession | None = None
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.pacer = Pacer(
            per_chat_interval=per_chat_interval, global_rate=global_rate, clock=clock, sleep=sleep
        )

    async def dispatch_once(self) -> int:
        """Claim one batch and try each message; returns how many were claimed."""
        claimed = await self._claim(self.batch, skip_chats=())
        await asyncio.gather(*(self._send_chat(messages) for messages in claimed.values()))
        return sum(len(messages) for messages in claimed.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set.

        Chats are sent to concurrently, at most `batch` at a time, and the loop claims again
        as soon as there is room: a chat that must wait (its pace, a 429, a slow request) never
        holds up the others. Rows of a chat still being sent to, or whose next slot is ahead,
        are left for a later claim, so each chat's rows go out in order. On stop, each chat
        finishes the message it is sending and gives the rest back.
        """
        log.info("outbox dispatcher started")
        sending: dict[int | None, asyncio.Task[None]] = {}
        freed = asyncio.Event()

        def done(chat_id: int | None, _task: asyncio.Task[None]) -> None:
            sending.pop(chat_id, None)
            freed.set()

        try:
            while not stop.is_set():
                claimed: dict[int | None, list[OutboxMessage]] = {}
                room = self.batch - len(sending)
                if room > 0:
                    skip = set(sending) | self.pacer.chats_waiting(IDLE_MARGIN_SECONDS)
                    try:
                        claimed = await self._claim(room, skip_chats=skip)
                    except Exception:
                        log.exception("outbox claim failed")
                for chat_id, messages in claimed.items():
                    task = asyncio.create_task(self._send_chat(messages, stop))
                    sending[chat_id] = task
                    task.add_done_callback(functools.partial(done, chat_id))
                if not claimed:
                    freed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_seconds):
                            await _first_of(stop.wait(), freed.wait())
        finally:
            if sending:
                await asyncio.gather(*sending.values(), return_exceptions=True)
            await self.close()
        log.info("outbox dispatcher stopped")

    async def _claim(
        self, limit: int, skip_chats: set[int | None] | tuple[()]
    ) -> dict[int | None, list[OutboxMessage]]:
        async with self.sessionmaker.begin() as session:
            claimed = await claim_due(
                session,
                now=utcnow(),
                limit=limit,
                lease_seconds=self.lease_seconds,
                skip_chats=skip_chats,
                chat_gap_seconds=self.pacer.per_chat_interval,
            )
        by_chat: dict[int | None, list[OutboxMessage]] = {}
        for message in claimed:
            by_chat.setdefault(message.chat_id, []).append(message)
        return by_chat

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # ---- one chat ------------------------------------------------------------------------

    async def _send_chat(
        self, messages: list[OutboxMessage], stop: asyncio.Event | None = None
    ) -> None:
        """Send one chat's messages in order; after a retryable failure, or once `stop` is
        set, give the rest back."""
        for index, message in enumerate(messages):
            if stop is not None and stop.is_set():
                await self._release(messages[index:], utcnow())
                return
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
            if message.kind != WEBHOOK:
                await self.pacer.wait(message.chat_id)
            sent_message_id = await self._send(message)
        except NotYet:
            not_before = utcnow() + timedelta(seconds=EDIT_WAIT_SECONDS)
            await self._release([message], not_before)
            return not_before
        except RetryLater as error:
            return await self._failed(message, str(error), retry_after=error.retry_after)
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
        await self._sent(message, sent_message_id)
        return None

    async def _send(self, message: OutboxMessage) -> int | None:
        """Deliver one row; Telegram's message id when there is one."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        if message.kind == WEBHOOK:
            await self._post_webhook(message, payload)
            return None
        if message.kind not in (TELEGRAM, TELEGRAM_EDIT):
            raise PermanentError(f"unknown outbox kind {message.kind!r}")
        text = payload.get("text")
        if message.chat_id is None or not isinstance(text, str) or not text:
            raise PermanentError("a telegram message needs a chat_id and a non-empty text")
        markup = inline_keyboard(payload.get("buttons"))
        if message.kind == TELEGRAM_EDIT:
            await self._edit(message.chat_id, payload.get("edit_of"), text, markup)
            return None
        sent = await self.bot.send_message(
            chat_id=message.chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=markup
        )
        return sent.message_id

    async def _edit(
        self, chat_id: int, edit_of: object, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        if not isinstance(edit_of, int):
            raise PermanentError("an edit needs edit_of, the id of the outbox row it edits")
        async with self.sessionmaker() as session:
            original = await session.get(OutboxMessage, edit_of)
        if original is None or original.status == DEAD:
            raise PermanentError(f"outbox row {edit_of} was never sent; nothing to edit")
        if original.status != SENT or original.sent_message_id is None:
            raise NotYet
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=original.sent_message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def _post_webhook(self, message: OutboxMessage, payload: dict[str, Any]) -> None:
        if self.webhook is None:
            raise PermanentError("BACKOFFICE_WEBHOOK_URL is not set")
        body = json.dumps(
            payload.get("body", {}), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Signature": signature(self.webhook.secret, body),
            "X-Intake-Event": str(payload.get("event", "")),
            "X-Intake-Delivery": message.dedupe_key,
        }
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
            )
        try:
            async with self._http.post(self.webhook.url, data=body, headers=headers) as response:
                if response.status < 300:
                    return
                detail = f"webhook answered HTTP {response.status}"
                if response.status == 429 or response.status >= 500:
                    raise RetryLater(detail, _retry_after_header(response.headers))
                raise PermanentError(detail)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RetryLater(f"webhook unreachable: {_describe(error)}") from error

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

    async def _sent(self, message: OutboxMessage, sent_message_id: int | None) -> None:
        async with self.sessionmaker.begin() as session:
            row = await get_message(session, message.id)
            if row is not None:
                mark_sent(row, now=utcnow(), message_id=sent_message_id)

    async def _release(self, messages: list[OutboxMessage], not_before: datetime) -> None:
        if not messages:
            return
        async with self.sessionmaker.begin() as session:
            for message in messages:
                row = await get_message(session, message.id)
                if row is not None and row.status == SENDING:
                    release(row, not_before=not_before)


async def _first_of(*waits: Awaitable[Any]) -> None:
    """Return when the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _retry_after_header(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"
