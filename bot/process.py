"""The long-running process: the Telegram side, the back-office and the outbox dispatcher.

`intake run` runs all three in one loop (and, in the demo, the emulator and the terminal
chat); `intake web` and `intake dispatch` run one part alone, so several instances can
share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import signal
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update

from bot.dispatcher import Dispatcher
from bot.flows.runner import Runner
from bot.initiatives import seed_starter_catalogue
from bot.matcher import Matcher
from bot.settings import Settings
from bot.telegram_bot import build_application, register_commands
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker, migrate
from storage.staff import staff_count

log = logging.getLogger("intake")

DEMO_TOKEN = "123456789:DEMO-local-emulator-token-not-secret"
GENERATED_SECRET = Path("data/secret.key")


async def prepare_database(url: str) -> None:
    """Create or upgrade the schema, and load the starter catalogue into a fresh database."""
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    try:
        await seed_starter_catalogue(create_sessionmaker(engine))
    finally:
        await engine.dispose()


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


async def start_web(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> web.AppRunner:
    from bot.backoffice.app import create_app

    app = create_app(
        sessionmaker,
        secret_key=secret_key(settings),
        default_language=settings.default_language,
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


async def serve_web(settings: Settings) -> None:
    """The back-office alone, until SIGINT/SIGTERM."""
    engine = create_engine(settings.database_url)
    stop = _stop_on_signals()
    runner = await start_web(settings, create_sessionmaker(engine))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


async def serve_dispatcher(settings: Settings) -> None:
    """The outbox dispatcher alone (several may share one PostgreSQL database)."""
    assert settings.telegram_token is not None
    engine = create_engine(settings.database_url)
    stop = _stop_on_signals()
    bot = Bot(settings.telegram_token, base_url=settings.telegram_api_url)
    try:
        async with bot:
            await Dispatcher(create_sessionmaker(engine), bot).run(stop)
    finally:
        await engine.dispose()


async def serve(settings: Settings) -> None:
    """The bot and the back-office until SIGINT/SIGTERM (in the demo: until the person quits)."""
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    matcher = Matcher()
    async with sessionmaker() as session:
        await matcher.refresh(session)  # build the index now, not at the first citizen
    runner = Runner(
        ConversationStore(sessionmaker),
        matcher,
        default_language=settings.default_language,
        reference_prefix=settings.reference_prefix,
    )
    stop = _stop_on_signals()
    web_runner = await start_web(settings, sessionmaker)
    emulator = None
    if settings.demo:
        from bot.emulator.server import start_emulator

        emulator, base_url = await start_emulator()
        token = DEMO_TOKEN
    else:
        assert settings.telegram_token is not None
        base_url, token = settings.telegram_api_url, settings.telegram_token

    application = build_application(token, base_url, runner, settings.default_language)
    try:
        async with application:
            await application.start()
            await register_commands(application, settings.default_language)
            dispatch_stop = asyncio.Event()
            dispatching = asyncio.create_task(
                Dispatcher(sessionmaker, application.bot).run(dispatch_stop)
            )
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            log.info("bot started against %s", base_url)
            if settings.demo:
                from bot.emulator.terminal import run_terminal_chat

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
            await application.updater.stop()
            await application.stop()
    finally:
        if emulator is not None:
            await emulator.cleanup()
        await web_runner.cleanup()
        await engine.dispose()
