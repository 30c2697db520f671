"""The long-running process: the Telegram side, the back-office and the outbox dispatcher.

Everything is built here, once per process, from the settings. `intake run` runs all three
in one loop (and, in the demo, the emulator and the terminal chat); `intake bot`,
`intake web` and `intake dispatch` run one part alone, so several instances can share one
PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.ext import AIORateLimiter, ExtBot

from bot.delivery.dispatcher import Dispatcher, Webhook
from bot.emulator.server import start_emulator
from bot.emulator.terminal import run_terminal_chat
from bot.flows.runner import Runner
from bot.runners.settings import Settings
from bot.services.announcements import Announcer
from bot.services.coach_alerts import run_digests
from bot.services.matcher import Matcher
from bot.services.retention import DataPolicy, run_retention
from bot.telegram.application import TelegramBot, build_bot, serving, telegram_rate_limiter
from bot.telegram.bot_api import UsernameLookup
from bot.telegram.webhook import ensure_webhook, webhook_app
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker
from storage.retention import RetentionPolicy
from storage.staff import staff_count

log = logging.getLogger("intake")

DEMO_TOKEN = "123456789:DEMO-local-emulator-token-not-secret"
PREVIEW_TOKEN = "987654321:PREVIEW-local-emulator-token-not-secret"
GENERATED_SECRET = Path("data/secret.key")


def secret_key(settings: Settings) -> bytes:
    """32 bytes for the session cookies: from SECRET_KEY, or generated once and kept."""
    if settings.secret_key:
        text = settings.secret_key
    elif GENERATED_SECRET.exists():
        text = GENERATED_SECRET.read_text().strip()
    else:
        GENERATED_SECRET.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_urlsafe(32)
        GENERATED_SECRET.write_text(text + "\n")
        GENERATED_SECRET.chmod(0o600)
        log.warning("SECRET_KEY is not set: generated one in %s", GENERATED_SECRET)
    return hashlib.sha256(text.encode()).digest()


def announcer(settings: Settings) -> Announcer:
    return Announcer(
        staff_chat_id=settings.staff_chat_id,
        staff_language=settings.default_language,
        back_office_url=settings.back_office_url,
        webhook=settings.backoffice_webhook_url is not None,
        coach_threshold=settings.coach_alert_threshold,
    )


def data_policy(settings: Settings) -> DataPolicy:
    return DataPolicy(
        controller=settings.data_controller,
        retention=RetentionPolicy(
            drafts=timedelta(days=settings.retention_draft_days),
            decided=timedelta(days=settings.retention_decided_days),
        ),
    )


def citizen_runner(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    test_proposals: bool = False,
) -> Runner:
    """The conversations, over the database; `test_proposals` for the preview bot (its
    proposals are tests and announce nothing)."""
    if settings.data_controller is None and not settings.demo and not test_proposals:
        log.warning(
            "DATA_CONTROLLER is not set: /privacy cannot name who is responsible for the "
            "citizens' data"
        )
    return Runner(
        ConversationStore(sessionmaker),
        Matcher(),
        default_language=settings.default_language,
        reference_prefix=settings.reference_prefix,
        announcer=None if test_proposals else announcer(settings),
        test_proposals=test_proposals,
        data_policy=data_policy(settings),
    )


def rate_limiter(settings: Settings) -> AIORateLimiter:
    return telegram_rate_limiter(
        settings.telegram_max_messages_per_second,
        settings.telegram_max_group_messages_per_minute,
    )


def telegram_bot(settings: Settings, runner: Runner, token: str, base_url: str) -> TelegramBot:
    """The Telegram side for `runner`, against the Bot API at `base_url`."""
    return build_bot(
        token,
        base_url,
        runner,
        settings.default_language,
        rate_limiter=rate_limiter(settings),
        max_concurrent_updates=settings.max_concurrent_updates,
        lease_seconds=settings.inbox_lease_seconds,
    )


def dispatcher(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> Dispatcher:
    webhook = None
    if settings.backoffice_webhook_url:
        webhook = Webhook(settings.backoffice_webhook_url, settings.backoffice_webhook_secret)
    return Dispatcher(sessionmaker, bot, webhook=webhook)


async def start_web(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    preview_url: str | None = None,
    bot_username: UsernameLookup | None = None,
) -> web.AppRunner:
    # Imported here: `intake bot` and `intake dispatch` serve no back-office.
    from bot.backoffice.app import create_app

    app = create_app(
        sessionmaker,
        secret_key=secret_key(settings),
        default_language=settings.default_language,
        secure_cookie=settings.secure_cookie,
        session_idle=timedelta(minutes=settings.backoffice_session_idle_minutes),
        trusted_proxies=settings.trusted_proxies,
        retention=data_policy(settings).retention,
        service_delay_days=settings.service_delay_days,
        metrics_token=settings.metrics_token,
        announcer=announcer(settings),
        preview_url=preview_url,
        bot_username=bot_username
        or UsernameLookup(settings.telegram_token, settings.telegram_api_url),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    for address in runner.addresses:
        host, port = address[0], address[1]
        log.info("back-office on http://%s:%s/", host, port)
        print(f"Back-office: http://{host}:{port}/", flush=True)
    async with sessionmaker() as session:
        if not await staff_count(session):
            print(
                "No back-office account yet: create one with "
                "`.venv/bin/intake staff add you@example.be --role admin`.",
                flush=True,
            )
    return runner


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


@contextlib.asynccontextmanager
async def preview_bot(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[str]:
    """A copy of the bot whose proposals are tests, against a local emulator: the
    back-office's /preview page chats with it. Yields the emulator's address."""

    emulator, base_url = await start_emulator(token=PREVIEW_TOKEN)
    runner = citizen_runner(settings, sessionmaker, test_proposals=True)
    bot = telegram_bot(settings, runner, PREVIEW_TOKEN, base_url)
    try:
        async with serving(bot):
            yield base_url.removesuffix("/bot")
    finally:
        await emulator.cleanup()


async def serve_web(settings: Settings) -> None:
    """The back-office (and its preview bot) alone, until SIGINT/SIGTERM."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessionmaker = create_sessionmaker(engine)
    stop = _stop_on_signals()
    try:
        async with preview_bot(settings, sessionmaker) as preview_url:
            runner = await start_web(settings, sessionmaker, preview_url)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
    finally:
        await engine.dispose()


async def serve_dispatcher(settings: Settings) -> None:
    """The outbox dispatcher alone (several may share one PostgreSQL database)."""
    assert settings.telegram_token is not None
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    stop = _stop_on_signals()
    bot = ExtBot(
        settings.telegram_token,
        base_url=settings.telegram_api_url,
        rate_limiter=rate_limiter(settings),
    )
    try:
        async with bot:
            sessionmaker = create_sessionmaker(engine)
            await asyncio.gather(
                dispatcher(settings, sessionmaker, bot).run(stop),
                run_digests(sessionmaker, stop),  # coaches' daily digests, into the outbox
                run_retention(
                    sessionmaker, data_policy(settings).retention, announcer(settings), stop
                ),
            )
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def receiving(settings: Settings, bot: TelegramBot) -> AsyncIterator[None]:
    """The bot at work: its updates come by webhook when TELEGRAM_WEBHOOK_URL is set (served
    on WEBHOOK_HOST:WEBHOOK_PORT), by long polling otherwise. On exit it stops receiving
    first, then finishes the updates in hand."""
    url, secret = settings.telegram_webhook_url, settings.telegram_webhook_secret
    if not url:
        async with serving(bot):
            yield
        return
    assert secret is not None  # the settings require it with the URL
    async with serving(bot, poll=False):
        site_runner = web.AppRunner(webhook_app(url, bot.worker, secret), access_log=None)
        await site_runner.setup()
        try:
            await web.TCPSite(site_runner, settings.webhook_host, settings.webhook_port).start()
            log.info(
                "webhook %s served on %s:%s", url, settings.webhook_host, settings.webhook_port
            )
            await ensure_webhook(
                bot.application.bot, url, secret, settings.telegram_webhook_max_connections
            )
            yield
        finally:
            await site_runner.cleanup()


async def serve_bot(settings: Settings) -> None:
    """The Telegram side alone (replies only, the outbox is `intake dispatch`'s), until
    SIGINT/SIGTERM. Any number can run on PostgreSQL with the webhook; one with polling."""
    assert settings.telegram_token is not None
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    stop = _stop_on_signals()
    runner = citizen_runner(settings, create_sessionmaker(engine))
    bot = telegram_bot(settings, runner, settings.telegram_token, settings.telegram_api_url)
    try:
        async with receiving(settings, bot):
            log.info("bot started against %s", settings.telegram_api_url)
            await stop.wait()
    finally:
        await engine.dispose()


async def serve(settings: Settings) -> None:
    """The bot and the back-office until SIGINT/SIGTERM (in the demo: until the person quits)."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessionmaker = create_sessionmaker(engine)
    runner = citizen_runner(settings, sessionmaker)
    stop = _stop_on_signals()
    exits = contextlib.AsyncExitStack()
    preview_url = await exits.enter_async_context(preview_bot(settings, sessionmaker))
    bot_username = UsernameLookup()  # known once the bot has started (coach invitation links)
    web_runner = await start_web(settings, sessionmaker, preview_url, bot_username)
    emulator = None
    if settings.demo:
        emulator, base_url = await start_emulator()
        token = DEMO_TOKEN
    else:
        assert settings.telegram_token is not None
        base_url, token = settings.telegram_api_url, settings.telegram_token

    bot = telegram_bot(settings, runner, token, base_url)
    application = bot.application
    try:
        async with receiving(settings, bot):
            bot_username.set(application.bot.username)
            dispatch_stop = asyncio.Event()
            dispatching = asyncio.create_task(
                dispatcher(settings, sessionmaker, application.bot).run(dispatch_stop)
            )
            digesting = asyncio.create_task(run_digests(sessionmaker, dispatch_stop))
            retention = data_policy(settings).retention
            retaining = asyncio.create_task(
                run_retention(sessionmaker, retention, announcer(settings), dispatch_stop)
            )
            log.info("bot started against %s", base_url)
            if settings.demo:
                chat = asyncio.create_task(
                    run_terminal_chat(base_url, language_code=None, opening_message="/start")
                )
                waiter = asyncio.create_task(stop.wait())
                await asyncio.wait({chat, waiter}, return_when=asyncio.FIRST_COMPLETED)
                for task in (chat, waiter):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            else:
                await stop.wait()
            dispatch_stop.set()
            await dispatching
            await digesting
            await retaining
    finally:
        if emulator is not None:
            await emulator.cleanup()
        await web_runner.cleanup()
        await exits.aclose()
        await engine.dispose()
