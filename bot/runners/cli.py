"""The `intake` command: the bot, the database, the catalogue and the tools around them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Each command imports what it needs when it runs (below, in its function): the whole
# program takes seconds to import, and `intake --help`, `intake suggest-themes` or
# `intake migrate` need a small part of it.
if TYPE_CHECKING:
    from bot.runners.settings import Settings
    from bot.services.catalogue import ImportResult

log = logging.getLogger("intake")

DEMO_LOG = Path("data/intake-demo.log")
EVAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "eval"


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


def command_run(settings: Settings) -> int:
    from bot.runners.process import serve
    from bot.runners.schema import prepare_database

    if settings.demo:
        configure_logging(settings.log_level, DEMO_LOG)
        print(
            "Demo mode: TELEGRAM_TOKEN is not set, so the bot runs against the local Bot API "
            f"emulator and you chat with it here. Logs: {DEMO_LOG}"
        )
    else:
        configure_logging(settings.log_level)
        log.info("Telegram mode: long polling %s", settings.telegram_api_url)
    asyncio.run(prepare_database(settings.database_url))
    return talk_to_telegram(serve(settings))


def talk_to_telegram(serving: Coroutine[Any, Any, None]) -> int:
    """Run a command that talks to the Bot API; a refused token or an unreachable API is
    said in one sentence."""
    from telegram.error import InvalidToken, NetworkError

    try:
        asyncio.run(serving)
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


def command_bot(settings: Settings) -> int:
    from bot.runners.process import serve_bot
    from bot.runners.schema import prepare_database

    if settings.demo:
        print(
            "intake: TELEGRAM_TOKEN is needed to serve Telegram alone; without it, `intake run` "
            "starts the demo.",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    if settings.telegram_webhook_url:
        log.info("Telegram mode: webhook %s", settings.telegram_webhook_url)
    else:
        log.info("Telegram mode: long polling %s", settings.telegram_api_url)
    asyncio.run(prepare_database(settings.database_url))
    return talk_to_telegram(serve_bot(settings))


def command_webhook(settings: Settings, action: str | None) -> int:
    """What Telegram has registered; `--set` registers TELEGRAM_WEBHOOK_URL again (after a
    change of secret, which Telegram does not show), `--delete` goes back to polling."""
    from telegram import Bot

    from bot.telegram.inbox import ALLOWED_UPDATES

    if settings.demo:
        print("intake: TELEGRAM_TOKEN is needed to manage the webhook.", file=sys.stderr)
        return 2
    if action == "set" and not settings.telegram_webhook_url:
        print("intake: TELEGRAM_WEBHOOK_URL is not set.", file=sys.stderr)
        return 2
    assert settings.telegram_token is not None

    async def run() -> dict[str, object]:
        async with Bot(settings.telegram_token or "", base_url=settings.telegram_api_url) as bot:
            if action == "set":
                await bot.set_webhook(
                    settings.telegram_webhook_url or "",
                    secret_token=settings.telegram_webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                    max_connections=settings.telegram_webhook_max_connections,
                )
            elif action == "delete":
                await bot.delete_webhook()
            return (await bot.get_webhook_info()).to_dict()

    print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
    return 0


def command_migrate(settings: Settings) -> int:
    from bot.runners.schema import prepare_database

    configure_logging(settings.log_level)
    asyncio.run(prepare_database(settings.database_url))
    print(f"Database schema is up to date ({settings.database_url.split('://')[0]}).")
    return 0


PROGRESS_FROM = 1000
"""Rows from which a long task shows a progress bar."""


def progress_bar(label: str, width: int = 30) -> Callable[[int, int], None]:
    """A progress bar on stderr ("sentence vectors [#####-----] 5 120 / 10 000"), for
    tasks of at least PROGRESS_FROM rows; a line of its own when finished."""

    def show(done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        filled = width * done // total
        count = f"{done:,} / {total:,}".replace(",", " ")
        end = "\n" if done >= total else ""
        print(
            f"\r{label} [{'#' * filled}{'-' * (width - filled)}] {count}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def command_import_initiatives(settings: Settings, path: Path, as_json: bool) -> int:
    from bot.services.catalogue import catalogue_format, import_catalogue
    from bot.services.sentence_vectors import ensure_vectors
    from matching.catalogue import CatalogueError
    from storage.database import create_engine, create_sessionmaker, migrate

    configure_logging("WARNING")

    async def run(data: bytes, format: str) -> ImportResult:
        await asyncio.to_thread(migrate, settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            sessions = create_sessionmaker(engine)
            result = await import_catalogue(sessions, data, format)
            await ensure_vectors(sessions, progress_bar("sentence vectors"))
            return result
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run(path.read_bytes(), catalogue_format(path)))
    except (CatalogueError, OSError) as error:
        print(f"intake: {path}: {error}; nothing was imported.", file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), ensure_ascii=False) if as_json else result.summary())
    return 0


def command_dispatch(settings: Settings) -> int:
    from bot.runners.process import serve_dispatcher
    from bot.runners.schema import prepare_database

    if settings.demo:
        print(
            "intake: TELEGRAM_TOKEN is needed to send messages; nothing to dispatch in the "
            "demo (intake run dispatches there).",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    asyncio.run(prepare_database(settings.database_url))
    asyncio.run(serve_dispatcher(settings))
    return 0


def command_web(settings: Settings) -> int:
    from bot.runners.process import serve_web
    from bot.runners.schema import prepare_database

    configure_logging(settings.log_level)
    asyncio.run(prepare_database(settings.database_url))
    asyncio.run(serve_web(settings))
    return 0


MIN_PASSWORD_LENGTH = 12


def read_password() -> str:
    """From the terminal (asked twice, not echoed) or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def command_staff_add(settings: Settings, email: str, role: str, language: str) -> int:
    from bot.backoffice.auth import hash_password
    from storage.database import create_engine, create_sessionmaker, migrate
    from storage.staff import StaffExists, add_staff

    configure_logging("WARNING")

    try:
        password = read_password()
    except ValueError as error:
        print(f"intake: {error}; nobody was added.", file=sys.stderr)
        return 2
    if len(password) < MIN_PASSWORD_LENGTH:
        print(
            f"intake: the password must have at least {MIN_PASSWORD_LENGTH} characters; "
            "nobody was added.",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        await asyncio.to_thread(migrate, settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await add_staff(session, email, hash_password(password), role, language)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except StaffExists:
        print(f"intake: {email} already has an account; nobody was added.", file=sys.stderr)
        return 2
    print(f"Added {email} as {role}.")
    return 0


def command_api_token(settings: Settings, action: str, name: str) -> int:
    """`add` prints the token alone on standard output and the hint on standard error, so
    that `TOKEN=$(intake api-token add NAME)` keeps just the token."""
    from storage.api_tokens import (
        ApiTokenExists,
        create_api_token,
        list_api_tokens,
        revoke_api_token,
    )
    from storage.clock import BRUSSELS
    from storage.database import create_engine, create_sessionmaker, migrate

    configure_logging("WARNING")

    def when(moment: datetime | None) -> str:
        return moment.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M") if moment else "-"

    async def run() -> int:
        await asyncio.to_thread(migrate, settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                if action == "add":
                    try:
                        async with session.begin():
                            token = await create_api_token(session, name)
                    except ApiTokenExists:
                        print(f"intake: a token named {name!r} exists already.", file=sys.stderr)
                        return 1
                    except ValueError as error:
                        print(f"intake: {error}.", file=sys.stderr)
                        return 1
                    print(token)
                    print(
                        "Shown only now. Send it as 'Authorization: Bearer <token>' to "
                        f"{settings.back_office_url}/api/v1/proposals "
                        "(see /api/v1/openapi.json).",
                        file=sys.stderr,
                    )
                    return 0
                if action == "revoke":
                    async with session.begin():
                        revoked = await revoke_api_token(session, name)
                    if revoked is None:
                        print(f"intake: there is no token named {name!r}.", file=sys.stderr)
                        return 1
                    print(f"{revoked.name}: revoked since {when(revoked.revoked_at)}.")
                    return 0
                rows = [("NAME", "CREATED", "LAST USED", "REVOKED")] + [
                    (t.name, when(t.created_at), when(t.last_used_at), when(t.revoked_at))
                    for t in await list_api_tokens(session)
                ]
        finally:
            await engine.dispose()
        width = max(len(row[0]) for row in rows)
        for row in rows:
            print(f"{row[0]:<{width}}  {row[1]:<16}  {row[2]:<16}  {row[3]}")
        return 0

    return asyncio.run(run())


def command_coach_invite(settings: Settings, name: str, language: str) -> int:
    """A new coach and their one-time invite link: the link alone on standard output, what it
    is on standard error (like `intake api-token add`)."""
    from telegram.error import TelegramError

    from bot.services.coach_alerts import DEEP_LINK_PREFIX, invite_link
    from bot.telegram.bot_api import fetch_bot_username
    from storage.coaches import INVITE_DAYS, invite_coach
    from storage.database import create_engine, create_sessionmaker, migrate

    configure_logging("WARNING")

    async def run() -> tuple[str, str | None, str | None]:
        await asyncio.to_thread(migrate, settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                _coach, token = await invite_coach(session, name, language, "intake coach invite")
        finally:
            await engine.dispose()
        if settings.telegram_token is None:
            return token, None, "TELEGRAM_TOKEN is not set"
        try:
            username = await fetch_bot_username(settings.telegram_token, settings.telegram_api_url)
        except TelegramError as error:
            return token, None, f"getMe failed at TELEGRAM_API_URL: {error}"
        return token, username, None

    try:
        token, username, problem = asyncio.run(run())
    except ValueError as error:
        print(f"intake: {error}; nobody was invited.", file=sys.stderr)
        return 2
    print(invite_link(username, token))
    print(
        f"Invited coach {' '.join(name.split())} ({language}). Send them this link: it works "
        f"once, for {INVITE_DAYS} days, and links the Telegram account that opens it.",
        file=sys.stderr,
    )
    if problem:
        print(
            f"The bot's username is unknown ({problem}): replace <bot username> in the link. "
            f"In the local demo, type instead: /start {DEEP_LINK_PREFIX}{token}",
            file=sys.stderr,
        )
    return 0


def command_suggest_themes() -> int:
    from bot.runners.jsonl import run_lines, themes_answer

    return run_lines(sys.stdin, sys.stdout, themes_answer)


def command_find_similar(path: Path) -> int:
    from bot.runners.jsonl import catalogue_index, run_lines, similar_answerer
    from bot.services.catalogue import catalogue_format
    from matching.catalogue import CatalogueError, parse_catalogue

    try:
        records, rejected = parse_catalogue(path.read_bytes(), catalogue_format(path))
    except (CatalogueError, OSError) as error:
        print(f"intake: {path}: {error}", file=sys.stderr)
        return 2
    for rejection in rejected:
        print(f"intake: {path}: row {rejection.row} left out: {rejection.reason}", file=sys.stderr)
    return run_lines(sys.stdin, sys.stdout, similar_answerer(catalogue_index(records)))


def seconds_range(text: str) -> tuple[float, float]:
    """ "8-14" → (8.0, 14.0); "3" → (3.0, 3.0)."""
    low, _sep, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds such as 8-14, not {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= low <= high, not {text!r}")
    return bounds


def command_bench(args: argparse.Namespace) -> int:
    what, as_json = args.what, args.json
    if what == "load":
        from bot.runners.benchmarks.load import format_load_report, run_load_benchmark

        configure_logging("WARNING")
        try:
            load = asyncio.run(
                run_load_benchmark(
                    args.citizens,
                    think=args.think,
                    arrive_over=args.arrive_over,
                    rtt_ms=args.rtt_ms,
                    instances=args.instances,
                    webhook=args.webhook,
                    database_url=args.database,
                    limits=not args.no_limits,
                    concurrency=args.concurrency,
                )
            )
        except ValueError as error:
            print(f"intake: {error}", file=sys.stderr)
            return 2
        print(json.dumps(load) if as_json else format_load_report(load))
        return 0
    if what == "memory":
        from bot.runners.benchmarks.memory import format_memory_report, run_memory_benchmark

        configure_logging("WARNING")
        memory = asyncio.run(run_memory_benchmark(args.conversations))
        print(json.dumps(memory) if as_json else format_memory_report(memory))
        return 0
    if what == "upload":
        from bot.runners.benchmarks.upload import format_upload_report, run_upload_benchmark

        configure_logging("WARNING")
        upload = asyncio.run(run_upload_benchmark(args.megabytes))
        print(json.dumps(upload) if as_json else format_upload_report(upload))
        return 0
    if what == "matching":
        from bot.runners.benchmarks.matching import (
            format_matching_report,
            run_matching_benchmark,
        )

        configure_logging("WARNING")  # says why, if the sentence encoder cannot load
        result = run_matching_benchmark(
            args.size,
            queries=args.queries,
            semantic=not args.no_semantic,
            **({} if args.embed_limit is None else {"embed_limit": args.embed_limit}),
        )
        print(json.dumps(result) if as_json else format_matching_report(result))
        return 0
    if what == "similar":
        from bot.runners.benchmarks import similar

        configure_logging("WARNING")  # says why, if the sentence encoder cannot load
        try:
            found = similar.evaluate_similar(args.eval_dir, semantic=not args.no_semantic)
        except FileNotFoundError as error:
            print(f"intake: no evaluation data: {error}", file=sys.stderr)
            return 2
        print(found.to_json() if as_json else similar.format_report(found))
        return 0
    from bot.runners.benchmarks.themes import evaluate_themes, format_report

    try:
        report = evaluate_themes(args.eval_dir, semantic=not args.no_semantic)
    except FileNotFoundError as error:
        print(f"intake: no evaluation data: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), ensure_ascii=False) if as_json else format_report(report))
    return 0


def command_emulator(port: int) -> int:
    from bot.emulator.server import main as emulator_main

    return emulator_main(["--port", str(port)]) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (demo in the terminal when no token is set)")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("bot", help="serve Telegram alone (replies; the outbox is dispatch's)")
    commands.add_parser("web", help="serve the staff back-office alone")
    commands.add_parser("dispatch", help="send what the outbox holds (alone)")
    webhook = commands.add_parser("webhook", help="the Telegram webhook: show, --set, --delete")
    webhook_action = webhook.add_mutually_exclusive_group()
    webhook_action.add_argument(
        "--set",
        dest="action",
        action="store_const",
        const="set",
        help="register TELEGRAM_WEBHOOK_URL with TELEGRAM_WEBHOOK_SECRET now",
    )
    webhook_action.add_argument(
        "--delete",
        dest="action",
        action="store_const",
        const="delete",
        help="remove the webhook (the bot then polls)",
    )
    staff = commands.add_parser("staff", help="back-office accounts")
    staff_commands = staff.add_subparsers(dest="action", required=True)
    staff_add = staff_commands.add_parser(
        "add", help="add a staff member (password read from standard input)"
    )
    staff_add.add_argument("email")
    staff_add.add_argument("--role", choices=["admin", "reviewer"], required=True)
    staff_add.add_argument("--language", choices=["fr", "nl", "en"], default="fr")
    api_token = commands.add_parser("api-token", help="bearer tokens for the JSON API")
    api_token_commands = api_token.add_subparsers(dest="action", required=True)
    api_token_commands.add_parser(
        "add", help="create a token and print it (only this once)"
    ).add_argument("name")
    api_token_commands.add_parser("revoke", help="revoke a token").add_argument("name")
    api_token_commands.add_parser("list", help="every token: created, last used, revoked")
    coach = commands.add_parser("coach", help="coach accounts")
    coach_commands = coach.add_subparsers(dest="action", required=True)
    coach_invite = coach_commands.add_parser(
        "invite", help="add a coach and print their one-time Telegram link (7 days)"
    )
    coach_invite.add_argument("name")
    coach_invite.add_argument("--language", choices=["fr", "nl", "en"], default="fr")
    emulator = commands.add_parser("emulator", help="serve the local Bot API emulator alone")
    emulator.add_argument("--port", type=int, default=8081)
    initiatives = commands.add_parser("initiatives", help="the catalogue of initiatives")
    initiatives_commands = initiatives.add_subparsers(dest="action", required=True)
    importing = initiatives_commands.add_parser(
        "import", help="add or update initiatives from a CSV or JSON file"
    )
    importing.add_argument("file", type=Path)
    importing.add_argument("--json", action="store_true", help="print the report as JSON")
    commands.add_parser(
        "suggest-themes", help='JSON lines {"id","text","language"?} → {"id","themes"}'
    )
    similar = commands.add_parser(
        "find-similar",
        help='JSON lines {"id","text","language"?,"commune"?} → {"id","matches"}',
    )
    similar.add_argument("--initiatives", type=Path, required=True, help="catalogue CSV or JSON")
    bench = commands.add_parser(
        "bench",
        help="measure matching speed, theme and similar-initiative quality, the bot under a "
        "crowd, its memory, a large catalogue upload",
    )
    bench.add_argument(
        "what", choices=["matching", "themes", "similar", "load", "memory", "upload"]
    )
    bench.add_argument("--size", type=int, default=100_000, help="synthetic catalogue size")
    bench.add_argument("--queries", type=int, default=200, help="queries to time")
    bench.add_argument(
        "--embed-limit",
        type=int,
        default=None,
        help="matching: texts embedded at most (default 200 000); the other vectors are "
        "derived from them",
    )
    bench.add_argument(
        "--eval-dir", type=Path, default=EVAL_DIR, help="labelled proposals (../shared/eval)"
    )
    bench.add_argument("--citizens", type=int, default=50, help="load: citizens in the crowd")
    bench.add_argument(
        "--think",
        type=seconds_range,
        default=(0.0, 0.0),
        help="load: pause before each input, in seconds, e.g. 8-14 (default 0: flat out)",
    )
    bench.add_argument(
        "--arrive-over", type=float, default=0.0, help="load: citizens arrive over S seconds"
    )
    bench.add_argument(
        "--rtt-ms", type=float, default=50.0, help="load: round trip added to Bot API calls"
    )
    bench.add_argument("--instances", type=int, default=1, help="load: intake bot processes")
    bench.add_argument("--webhook", action="store_true", help="load: webhook, even with one")
    bench.add_argument("--database", default=None, help="load: database URL (default SQLite)")
    bench.add_argument("--no-limits", action="store_true", help="load: Telegram's limits off")
    bench.add_argument(
        "--concurrency", type=int, default=16, help="load: MAX_CONCURRENT_UPDATES of the bot"
    )
    bench.add_argument(
        "--conversations", type=int, default=10_000, help="memory: conversations to open"
    )
    bench.add_argument(
        "--megabytes", type=float, default=8.0, help="upload: size of the catalogue uploaded"
    )
    bench.add_argument(
        "--no-semantic",
        action="store_true",
        help="matching, themes, similar: lexical matching only, without the sentence encoder",
    )
    bench.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    # python-telegram-bot 22 gives durations (RetryAfter.retry_after) as timedelta with this,
    # and warns on every such value without it.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return command_emulator(args.port)
    if args.command == "suggest-themes":
        return command_suggest_themes()
    if args.command == "find-similar":
        return command_find_similar(args.initiatives)
    if args.command == "bench":
        return command_bench(args)
    from bot.runners.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"intake: {error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return command_migrate(settings)
    if args.command == "bot":
        return command_bot(settings)
    if args.command == "web":
        return command_web(settings)
    if args.command == "dispatch":
        return command_dispatch(settings)
    if args.command == "webhook":
        return command_webhook(settings, args.action)
    if args.command == "api-token":
        return command_api_token(settings, args.action, getattr(args, "name", ""))
    if args.command == "coach":
        return command_coach_invite(settings, args.name, args.language)
    if args.command == "staff":
        return command_staff_add(settings, args.email.strip().lower(), args.role, args.language)
    if args.command == "initiatives":
        return command_import_initiatives(settings, args.file, args.json)
    return command_run(settings)
