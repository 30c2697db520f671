"""Updates reach the bot through the inbox (`storage.inbox`): stored first, then applied.

`InboxWorker.receive` stores a batch of updates and commits before the caller confirms them
to Telegram (the next `getUpdates` offset in `receive_by_polling`, or the webhook's 2xx).
`InboxWorker.run` claims stored updates, at most `max_concurrent_updates` at a time, and
runs each through the python-telegram-bot Application. A chat's updates come out of the
inbox one at a time and in `update_id` order (across every process sharing the database),
so different chats run side by side and a slow one holds up nobody else.

A failed update is retried with backoff; the citizen is told at the first failure that the
message is kept, and, if the last attempt fails too, that it could not be handled (the
update is then parked for staff). Both notices are in the language stored with the update,
so they do not need the database that may be the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update

from bot.telegram.bot_api import bot_id
from bot.telegram.handlers import BotApplication, TelegramFrontend
from bot.text.i18n import Translator, language_from_telegram
from storage.clock import utcnow
from storage.inbox import (
    IncomingUpdate,
    UpdateKey,
    claim_due,
    mark_done,
    mark_failed,
    prune_done,
    store_updates,
)
from storage.models import UPDATE_PARKED, InboxUpdate

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
"""The updates the bot handles, asked for explicitly (polling and webhook)."""

POLL_TIMEOUT_SECONDS = 10
RETRY_CAP_SECONDS = 5.0
"""Longest pause before polling or claiming again after a failure (the database is down):
short, so that the bot is back within seconds of the database."""
PRUNE_EVERY_SECONDS = 3600.0
IDLE_CLAIM_SECONDS = 0.5
"""How often an idle worker looks for updates stored by other processes or due for retry."""


def chat_of(data: Mapping[str, Any]) -> int | None:
    """The chat of an update as Telegram sent it (None for the few that have none). Read from
    the JSON rather than from python-telegram-bot's `Update`, so that an update it cannot
    read is still stored in its chat's order (it then fails, is retried and is parked)."""
    for kind in ALLOWED_UPDATES:
        part = data.get(kind)
        if isinstance(part, dict):
            message = part.get("message") if kind == Update.CALLBACK_QUERY else part
            chat = message.get("chat") if isinstance(message, dict) else None
            chat_id = chat.get("id") if isinstance(chat, dict) else None
            return chat_id if isinstance(chat_id, int) else None
    return None


def incoming(data: Mapping[str, Any]) -> IncomingUpdate:
    return IncomingUpdate(data["update_id"], chat_of(data), dict(data))


class InboxWorker:
    def __init__(
        self,
        application: BotApplication,
        frontend: TelegramFrontend,
        transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        *,
        max_concurrent_updates: int,
        lease_seconds: float,
    ) -> None:
        if max_concurrent_updates < 1:
            raise ValueError("max_concurrent_updates must be at least 1")
        self.application = application
        self.frontend = frontend
        self.transaction = transaction
        """A session in a transaction committed on exit."""
        self.max_concurrent_updates = max_concurrent_updates
        self.lease_seconds = lease_seconds
        self._wake = asyncio.Event()
        self._done: list[int] = []
        """Updates applied and answered, not yet recorded as done."""

    @property
    def bot_id(self) -> int:
        return bot_id(self.application.bot)

    async def receive(self, updates: Sequence[Mapping[str, Any]]) -> int:
        """Store the updates, as Telegram sent them (JSON objects with an `update_id`),
        committed when this returns; how many were new."""
        async with self.transaction() as session:
            added = await store_updates(session, self.bot_id, [incoming(u) for u in updates])
        if added:
            self._wake.set()
        return added

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and apply updates until `stop`; then finish the ones in hand."""
        in_hand: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        failures = 0
        next_prune = time.monotonic()
        try:
            while not stop.is_set():
                if time.monotonic() >= next_prune:
                    await self._prune()
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                self._wake.clear()
                free = self.max_concurrent_updates - len(in_hand)
                if free > 0:
                    try:
                        rows = await self._claim(free)
                        failures = 0
                    except Exception:
                        failures += 1
                        log.exception("could not claim updates from the inbox")
                        rows = []
                        await _sleep_unless(stop, min(RETRY_CAP_SECONDS, 0.5 * 2**failures))
                    for row in rows:
                        task = asyncio.create_task(self._apply(row))
                        in_hand.add(task)
                        task.add_done_callback(self._finished(in_hand))
                    if len(rows) == free:
                        continue  # there may be more: claim again once a place is free
                waking = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {waking, stopping}, timeout=IDLE_CLAIM_SECONDS, return_when="FIRST_COMPLETED"
                )
                waking.cancel()
        finally:
            stopping.cancel()
            if in_hand:
                log.info("finishing %d update(s) in hand", len(in_hand))
                await asyncio.gather(*in_hand, return_exceptions=True)
            await self._record_done()

    def _finished(self, in_hand: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            in_hand.discard(task)
            self._wake.set()  # a place is free, and the chat's next update may be due

        return done

    async def _prune(self) -> None:
        """Forget the ids of updates done long ago (`storage.inbox.KEEP_DONE`)."""
        try:
            async with self.transaction() as session:
                forgotten = await prune_done(session)
        except Exception:
            log.exception("could not prune the inbox")
            return
        if forgotten:
            log.info("inbox: forgot %d update(s) done long ago", forgotten)

    async def _record_done(self) -> None:
        """Record the updates applied since the last claim as done (on stopping)."""
        done, self._done = self._done, []
        if not done:
            return
        try:
            async with self.transaction() as session:
                await mark_done(session, self.bot_id, done)
        except Exception:
            # Applied and answered: claimed again after the lease, they are not applied a
            # second time (their answers are sent again).
            log.exception("updates %s: applied, but could not be marked done", done)

    async def drain(self) -> int:
        """Apply every update that is due now, one after the other; how many (tests, tools)."""
        applied = 0
        while rows := await self._claim(self.max_concurrent_updates):
            for row in rows:
                await self._apply(row)
            applied += len(rows)
        return applied

    async def _claim(self, limit: int) -> list[InboxUpdate]:
        """Record the updates applied since the last claim as done, and claim the next ones,
        in one transaction: a round trip fewer per update, and a chat's next update can be
        claimed in the transaction that finishes the one before. Should it fail, the done
        ones wait for the next claim; if this process dies first, each is claimed again
        after its lease and answered again, not applied again."""
        done, self._done = self._done, []
        try:
            async with self.transaction() as session:
                await mark_done(session, self.bot_id, done)
                return await claim_due(
                    session,
                    bot_id=self.bot_id,
                    now=utcnow(),
                    limit=limit,
                    lease_seconds=self.lease_seconds,
                )
        except BaseException:
            self._done = done + self._done
            raise

    async def _apply(self, row: InboxUpdate) -> None:
        """Run one claimed update through the Application and record how it went."""
        key = UpdateKey(row.bot_id, row.update_id)
        update: Update | None = None
        try:
            update = Update.de_json(row.payload or {}, self.application.bot)
            await self.application.process_update(update)
            error = self.frontend.take_error(update.update_id)
        except Exception as unexpected:  # not an update python-telegram-bot can read, or
            error = unexpected  # process_update itself failed
        if error is None:
            self._done.append(key.update_id)  # recorded by the next claim (`_claim`)
            return
        # No chat id in the logs: they cannot be erased with the citizen's data (the inbox
        # row, which can, names the chat while the update is unfinished).
        log.error("update %s (attempt %d) failed", key.update_id, row.attempts, exc_info=error)
        status = None
        try:
            async with self.transaction() as session:
                status = await mark_failed(session, key, f"{type(error).__name__}: {error}")
        except Exception:
            log.exception(
                "update %s: could not record the failure (retried after its lease)", key.update_id
            )
        if status == UPDATE_PARKED:
            log.error("update %s parked after %d attempts", key.update_id, row.attempts)
        if update is not None and (status == UPDATE_PARKED or row.attempts == 1):
            await self._tell(update, row, parked=status == UPDATE_PARKED)

    async def _tell(self, update: Update, row: InboxUpdate, *, parked: bool) -> None:
        """Tell the citizen that their message is kept for a retry, or could not be handled."""
        chat = update.effective_chat
        if chat is None or chat.type != "private":
            return
        user = update.effective_user
        t = Translator(
            row.language
            or language_from_telegram(user.language_code if user else None)
            or self.frontend.default_language
        )
        if parked:
            text = t.gettext(
                "Sorry, I could not handle your message, even after several tries. The team "
                "has been told. Your draft is safe: please send your message again later."
            )
        else:
            text = t.gettext(
                "Sorry, I could not handle your message straight away. It is kept, and I will "
                "answer it as soon as I can."
            )
        try:
            if update.callback_query is not None and not parked:
                await update.callback_query.answer()
            await self.application.bot.send_message(chat.id, text)
        except Exception:
            log.exception("could not tell the citizen about update %s", row.update_id)


class PollingError(Exception):
    """Telegram refused a `getUpdates`: its description, and how long it asks to wait."""

    def __init__(self, description: str, retry_after: float = 0.0) -> None:
        super().__init__(description)
        self.retry_after = retry_after


async def fetch_updates(
    http: aiohttp.ClientSession, bot: Bot, offset: int | None
) -> list[dict[str, Any]]:
    """One long poll, the updates as Telegram sent them (JSON). Not python-telegram-bot's
    `get_updates`: it refuses a whole batch when it cannot read one update, and that one
    update would then hold up every other for good."""
    params: dict[str, Any] = {"timeout": POLL_TIMEOUT_SECONDS, "allowed_updates": ALLOWED_UPDATES}
    if offset is not None:
        params["offset"] = offset
    async with http.post(f"{bot.base_url}/getUpdates", json=params) as response:
        body = await response.json(content_type=None)
    if not isinstance(body, dict) or body.get("ok") is not True:
        described = body if isinstance(body, dict) else {}
        parameters = described.get("parameters") or {}
        raise PollingError(
            f"getUpdates: HTTP {response.status}: {described.get('description', body)!r}",
            float(parameters.get("retry_after") or 0),
        )
    return [
        update
        for update in body.get("result") or []
        if isinstance(update, dict) and isinstance(update.get("update_id"), int)
    ]


async def receive_by_polling(bot: Bot, worker: InboxWorker, stop: asyncio.Event) -> None:
    """Long polling until `stop`. A batch is stored before the next `getUpdates` (its offset)
    tells Telegram that it arrived; while it cannot be stored (database down), the same
    batch is fetched again, with backoff."""
    info = await bot.get_webhook_info()
    if info.url:
        log.warning("deleting the webhook %s: this process polls", info.url)
        await bot.delete_webhook()
    offset: int | None = None
    failures = 0
    timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_SECONDS + 15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            fetch = asyncio.create_task(fetch_updates(http, bot, offset))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when="FIRST_COMPLETED")
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()  # nothing of it is confirmed: Telegram keeps it for the next poll
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch
                return
            try:
                updates = fetch.result()
                if updates:
                    await worker.receive(updates)
                    offset = max(update["update_id"] for update in updates) + 1
                failures = 0
            except Exception as error:
                failures += 1
                log.exception("could not receive updates (try %d)", failures)
                pause = min(RETRY_CAP_SECONDS, 0.5 * 2**failures)
                if isinstance(error, PollingError):
                    pause = max(pause, error.retry_after)
                await _sleep_unless(stop, pause)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
