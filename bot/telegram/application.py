"""The Telegram side: the python-telegram-bot Application (defaults, rate limiter, start-up in
`post_init`), the inbox worker that feeds it, and how the process runs them.

Its handlers (`bot.telegram.handlers`) are all registered in one place. Updates never go
straight from Telegram to the Application: they are stored in the inbox first
(`bot.telegram.inbox`). Conversation state is not kept by python-telegram-bot either: every
update goes through `Runner`, which keeps it in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    Defaults,
)
from telegram.request import BaseRequest

from bot.flows.runner import Runner
from bot.telegram.handlers import BotApplication, TelegramFrontend
from bot.telegram.inbox import InboxWorker, receive_by_polling

log = logging.getLogger(__name__)


def telegram_rate_limiter(
    messages_per_second: float = 30.0, group_messages_per_minute: float = 20.0
) -> AIORateLimiter:
    """Telegram's limits (by default the documented ones); a 429 is not retried here (the
    inbox and the outbox retry)."""
    return AIORateLimiter(
        overall_max_rate=messages_per_second,
        overall_time_period=1,
        group_max_rate=group_messages_per_minute,
        group_time_period=60,
        max_retries=0,
    )


class StatelessApplication(Application[Any, Any, Any, Any, Any, Any]):
    """python-telegram-bot's Application without the chat and user ids it collects for a
    persistence. This bot has none (conversation state lives in the database), and only a
    persistence ever empties those sets: a bot that met ten thousand chats would keep
    twenty thousand ids for nothing."""

    def _mark_for_persistence_update(self, *, update: object = None, job: Any = None) -> None:
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)


@dataclass(frozen=True)
class TelegramBot:
    """The bot: the python-telegram-bot Application with the handlers, and the inbox worker
    that feeds it the stored updates."""

    application: BotApplication
    worker: InboxWorker


def build_bot(
    token: str,
    base_url: str,
    runner: Runner,
    default_language: str,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: AIORateLimiter | None = None,
    max_concurrent_updates: int = 16,
    lease_seconds: float = 30.0,
) -> TelegramBot:
    """The bot. `rate_limiter`: every request of the process (replies and the outbox) stays
    under Telegram's limits (`telegram_rate_limiter`); None sends as fast as it can (tests).
    `max_concurrent_updates`: updates (of different chats) applied at the same time;
    `lease_seconds`: how long a claimed update is kept from other processes, so how soon one
    whose process died is taken up again (`bot.telegram.inbox`)."""
    frontend = TelegramFrontend(runner, default_language)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .application_class(StatelessApplication)
        .token(token)
        .base_url(base_url)
        .post_init(frontend.start_up)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .updater(None)  # updates come from the inbox, never straight from Telegram
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    frontend.register(application)
    worker = InboxWorker(
        application,
        frontend,
        runner.store.transaction,
        max_concurrent_updates=max_concurrent_updates,
        lease_seconds=lease_seconds,
    )
    return TelegramBot(application, worker)


@contextlib.asynccontextmanager
async def serving(bot: TelegramBot, *, poll: bool = True) -> AsyncIterator[None]:
    """The bot at work inside the caller's event loop (beside the back-office and the
    dispatcher): initialize, post_init, then the inbox worker and, with `poll`, long polling
    into the inbox. On exit: stop receiving, finish the updates in hand, shut down."""
    application = bot.application
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(bot.worker.run(stop), name="inbox worker")]
        if poll:
            tasks.append(
                asyncio.create_task(
                    receive_by_polling(application.bot, bot.worker, stop), name="long polling"
                )
            )
        for task in tasks:
            task.add_done_callback(_log_crash)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped", task.get_name(), exc_info=task.exception())
