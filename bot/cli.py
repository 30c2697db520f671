"""The `intake` command: `intake run`, `intake migrate`, `intake emulator`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.flows.runner import Runner
from bot.settings import Settings, SettingsError, load_settings
from bot.telegram_bot import build_application, register_commands
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker, migrate

log = logging.getLogger("intake")

DEMO_TOKEN = "123456789:DEMO-local-emulator-token-not-secret"
DEMO_LOG = Path("data/intake-demo.log")


def configure_logging(level: str, logfile: Path | None = None) -> None:
    handler: logging.Handler
    if logfile is not None:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    logging.basicConfig(
        level=level,
        handlers=[handler],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT/SIGTERM (or, in the demo, until the person quits)."""
    engine = create_engine(settings.database_url)
    runner = Runner(
        ConversationStore(create_sessionmaker(engine)),
        default_language=settings.default_language,
        reference_prefix=settings.reference_prefix,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

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
            await application.updater.stop()
            await application.stop()
    finally:
        if emulator is not None:
            await emulator.cleanup()
        await engine.dispose()


def command_run(settings: Settings) -> int:
    if settings.demo:
        configure_logging(settings.log_level, DEMO_LOG)
        print(
            "Demo mode: TELEGRAM_TOKEN is not set, so the bot runs against the local Bot API "
            f"emulator and you chat with it here. Logs: {DEMO_LOG}"
        )
    else:
        configure_logging(settings.log_level)
        log.info("Telegram mode: long polling %s", settings.telegram_api_url)
    migrate(settings.database_url)
    try:
        asyncio.run(serve(settings))
    except InvalidToken:
        print(
            "intake: Telegram refused TELEGRAM_TOKEN; copy it again from @BotFather.",
            file=sys.stderr,
        )
        return 2
    except NetworkError as error:
        print(f"intake: cannot reach the Bot API at TELEGRAM_API_URL ({error}).", file=sys.stderr)
        return 1
    return 0


def command_migrate(settings: Settings) -> int:
    configure_logging(settings.log_level)
    migrate(settings.database_url)
    print(f"Database schema is up to date ({settings.database_url.split('://')[0]}).")
    return 0


def command_emulator(port: int) -> int:
    from bot.emulator.server import main as emulator_main

    return emulator_main(["--port", str(port)]) or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (demo in the terminal when no token is set)")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    emulator = commands.add_parser("emulator", help="serve the local Bot API emulator alone")
    emulator.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)

    if args.command == "emulator":
        return command_emulator(args.port)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"intake: {error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return command_migrate(settings)
    return command_run(settings)
