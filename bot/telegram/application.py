"""The Telegram side: the python-telegram-bot Application (defaults, rate limiter, start-up in
`post_init`) and how the process runs it.

Its handlers (`bot.telegram.handlers`) are all registered in one place. Conversation state is
not kept by python-telegram-bot: every update goes through `Runner`, which keeps it in the
database.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from telegram import (
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    Defaults,
)
from telegram.request import BaseRequest

from bot.flows.runner import Runner
from bot.telegram.handlers import BotApplication, TelegramFrontend
from bot.telegram.ordering import PerChatUpdateProcessor


def telegram_rate_limiter() -> AIORateLimiter:
    """Telegram's documented limits; a 429 is not retried here (the outbox retries)."""
    return AIORateLimiter(max_retries=0)


def build_application(
    token: str,
    base_url: str,
    runner: Runner,
    default_language: str,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limited: bool = True,
    max_concurrent_updates: int = 1,
) -> BotApplication:
    """The bot. `rate_limited`: every request of the process (replies and the outbox) stays
    under Telegram's limits, 30 messages a second overall and 20 a minute per group, through
    python-telegram-bot's AIORateLimiter (flood errors are left to the caller).
    `max_concurrent_updates`: chats served at the same time (`bot.telegram.ordering`)."""
    frontend = TelegramFrontend(runner, default_language)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .post_init(frontend.start_up)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
    )
    if max_concurrent_updates > 1:
        builder = builder.concurrent_updates(PerChatUpdateProcessor(max_concurrent_updates))
    if rate_limited:
        builder = builder.rate_limiter(telegram_rate_limiter())
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    frontend.register(application)
    return application


@contextlib.asynccontextmanager
async def polling(application: BotApplication) -> AsyncIterator[None]:
    """The bot serving Telegram by long polling inside the caller's event loop (beside the
    back-office and the dispatcher), as `Application.run_polling` would: initialize,
    post_init, start, poll; on exit, stop polling and the application."""
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()
