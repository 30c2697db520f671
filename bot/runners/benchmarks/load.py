"""`intake bench load`: a crowd of citizens against the real bot, as Telegram brings them.

Each run starts the local Bot API emulator in this process, adds a round trip to Telegram
(`rtt_ms`, 50 ms by default, a realistic figure from a Brussels server) to every Bot API
call that answers a citizen, starts the bot as process(es) of its own and lets `citizens`
citizens walk the whole intake (fr, nl and en in turn) up to the submission. They arrive
spread over `arrive_over` seconds; each waits for the answer to an input, then pauses
(`think`, a random number of seconds in a range, as a person reads and types) before the
next. An answer's time runs from the input to the last message of the answer: the bot's
last call in the chat before its inbox row says the update is done (for the echo bot, its
one message).

`instances` > 1 (or `webhook`) runs `intake bot` in webhook mode, the emulator spreading
its deliveries over the instances as a load balancer would (they then need PostgreSQL:
`database`). Telegram's limits (`TELEGRAM_MAX_MESSAGES_PER_SECOND`, 30) are on unless
`limits` is False, to measure the compute ceiling.

The same crowd (same arrivals, pauses and number of inputs) then writes to a bare
python-telegram-bot echo bot (`bot.runners.benchmarks.echo`), the yardstick, in the same
run: compare ratios measured together, machines are noisy. For both it reports updates/s,
the p50/p95/p99 answer time, Bot API calls per update, the citizens who completed the walk
(and, for the bot, that their references are unique) and the peak resident memory of the
bot's processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.emulator.client import EmulatorClient
from bot.emulator.server import start_emulator
from bot.flows.base import BACK, decode_callback
from bot.runners.schema import prepare_database
from bot.runners.settings import Settings
from storage.database import create_engine, create_sessionmaker
from storage.models import UPDATE_DONE, InboxUpdate, Proposal

TOKEN = "111111111:BENCH-local-emulator-token-not-secret"
WEBHOOK_SECRET = "bench-webhook-secret-not-secret"
LATENCY_METHODS = [
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
]
"""The calls that answer a citizen; getUpdates is a long poll and keeps its own pace."""
POLL = 0.02
"""How often, once an answer has begun, to look whether the bot has finished it."""
FIRST_CITIZEN = 500_001
ANSWER_TIMEOUT = 120.0
SETTING_NAMES = tuple(name.upper() for name in Settings.model_fields)
NO_LIMITS = "1000000"

WALKS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Un compost collectif rue Royale",
        "description": "Installer trois bacs à compost avec les voisins et l'école, "
        "pour réduire les déchets et nourrir les jardins du quartier.",
        "where": "1030",
        "budget": "environ 2 500 €",
        "name": "Marie Dupont",
        "contact": "marie@example.be",
        "similar": "Étape 7 sur 11",
    },
    "nl": {
        "title": "Een samentuin in Sint-Gillis",
        "description": "Samen groenten kweken met de buren en de school, om elkaar te leren "
        "kennen en gezonder te eten in de wijk.",
        "where": "Sint-Gillis",
        "budget": "ongeveer 3.500,50 euro",
        "name": "Jan Peeters",
        "contact": "0470 12 34 56",
        "similar": "Stap 7 van 11",
    },
    "en": {
        "title": "Repair café in Ixelles",
        "description": "A monthly repair café with volunteers and a local business, so that "
        "neighbours fix things instead of throwing them away.",
        "where": "ixelle",
        "budget": "about €2,500",
        "name": "Sam Smith",
        "contact": "sam@example.org",
        "similar": "Step 7 of 11",
    },
}
LANGUAGES = ("fr", "nl", "en")
ECHO_INPUTS = 17
"""About as many inputs as a walk through the intake, for the echo bot's crowd."""


@dataclass
class Run:
    """One crowd against one bot: every answer time, calls, walks, memory."""

    name: str
    seconds: float = 0.0
    waits: list[float] = field(default_factory=list)
    calls: int = 0
    citizens: int = 0
    completed: int = 0
    references: list[str] = field(default_factory=list)
    peak_rss_mb: float | None = None
    pids: list[int] = field(default_factory=list)
    """The bot's processes (their CPU time is measured during the crowd)."""
    bot_cpu_cores: float | None = None
    """CPU seconds the bot's processes used per second of the crowd: cores kept busy."""
    machine_busy: float | None = None
    """Share of all the machine's cores busy during the crowd (bot, database, crowd)."""

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.waits)

        def ms(share: float) -> float | None:
            return round(percentile(ordered, share) * 1000, 1) if ordered else None

        return {
            "name": self.name,
            "updates": len(ordered),
            "seconds": round(self.seconds, 3),
            "updates_per_second": round(len(ordered) / self.seconds, 1) if self.seconds else 0,
            "wait_p50_ms": ms(0.50),
            "wait_p95_ms": ms(0.95),
            "wait_p99_ms": ms(0.99),
            "calls_per_update": round(self.calls / len(ordered), 2) if ordered else None,
            "citizens": self.citizens,
            "completed": self.completed,
            "unique_references": len(set(self.references)) == len(self.references),
            "peak_rss_mb": self.peak_rss_mb,
            "bot_cpu_cores": self.bot_cpu_cores,
            "machine_busy": self.machine_busy,
        }


@dataclass(frozen=True)
class Crowd:
    """Who comes and how: the same for the bot and the echo bot."""

    citizens: int
    think: tuple[float, float] = (0.0, 0.0)
    arrive_over: float = 0.0
    rtt_ms: float = 50.0
    seed: int = 2026

    def arrival(self, number: int) -> float:
        return self.arrive_over * number / self.citizens if self.citizens else 0.0

    def pauses(self, number: int) -> Callable[[], float]:
        chance = random.Random(self.seed * 100_003 + number)
        low, high = self.think
        return lambda: chance.uniform(low, high)


def percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _machine_ticks() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far, in clock ticks (Linux)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # user … steal (guest time is counted in user already)
    return total - idle, total


def _process_ticks(pids: Sequence[int]) -> int:
    """User and system CPU time of the processes so far, in clock ticks (Linux)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after the command, which may hold spaces
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def bot_environment(base_url: str, database_url: str, **settings: str) -> dict[str, str]:
    """This environment without the program's own settings, plus the run's."""
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=base_url,
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        **settings,
    )
    return env


@dataclass(frozen=True)
class Started:
    """`intake <command>` running against a local emulator, on a fresh SQLite database."""

    process: asyncio.subprocess.Process
    emulator_url: str
    """The emulator's root (its control API is under /_emulator/)."""
    database_url: str


@contextlib.asynccontextmanager
async def intake_on_emulator(
    command: str,
    prepare: Callable[[str], Awaitable[None]] | None = None,
    **settings: str,
) -> AsyncIterator[Started]:
    """Start the local emulator and `intake <command>` against it on a fresh SQLite database
    (migrated, with the starter catalogue; then `prepare(database_url)`); stop both after."""
    emulator, base_url = await start_emulator(token=TOKEN)
    try:
        with tempfile.TemporaryDirectory(prefix="intake-bench-") as folder:
            workdir = Path(folder)
            database_url = f"sqlite+aiosqlite:///{workdir}/bench.db"
            await prepare_database(database_url)
            if prepare is not None:
                await prepare(database_url)
            env = bot_environment(base_url, database_url, **settings)
            with (workdir / "process.log").open("ab") as log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    command,
                    env=env,
                    cwd=workdir,
                    stdout=log,
                    stderr=log,
                )
            try:
                yield Started(process, base_url.removesuffix("/bot"), database_url)
            finally:
                process.terminate()
                await process.wait()
    finally:
        await emulator.cleanup()


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (Linux), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


@contextlib.asynccontextmanager
async def _processes(
    commands: Sequence[tuple[Sequence[str], dict[str, str]]], log: Path, run: Run
) -> AsyncIterator[None]:
    """Start the processes; on exit read their peak memory, then stop them."""
    started = []
    with log.open("ab") as output:
        for args, env in commands:
            started.append(
                await asyncio.create_subprocess_exec(
                    *args, env=env, cwd=log.parent, stdout=output, stderr=output
                )
            )
    run.pids = [process.pid for process in started]
    try:
        yield
    finally:
        peaks = [peak for p in started if (peak := _peak_rss_mb(p.pid)) is not None]
        run.peak_rss_mb = max(peaks) if peaks else None
        for process in started:
            if process.returncode is None:
                process.terminate()
        for process in started:
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


Finished = Callable[[int], Awaitable[bool]]
"""Whether the bot has finished answering an update (by its id)."""


class Citizen:
    """One person in the crowd: each input waits for its whole answer, then a pause."""

    def __init__(
        self, client: EmulatorClient, user_id: int, language: str, run: Run, finished: Finished
    ) -> None:
        self.client, self.user_id, self.language, self.run = client, user_id, language, run
        self.finished = finished
        self.after = 0

    async def _answer(self, send: Awaitable[int]) -> str:
        started = time.perf_counter()
        update_id = await send
        texts: list[str] = []
        answered = False
        last_seen = started
        deadline = started + ANSWER_TIMEOUT
        while not (answered and await self.finished(update_id)):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no answer to update {update_id} in chat {self.user_id}")
            wait = POLL if answered else remaining
            events = await self.client.events(self.user_id, after=self.after, timeout=wait)
            if events:
                answered = True
                last_seen = time.perf_counter()
                self.after = int(events[-1]["seq"])
                self.run.calls += len(events)
                texts += [str(e.get("text") or "") for e in events]
        self.run.waits.append(last_seen - started)
        return "\n".join(texts)

    async def say(self, text: str) -> str:
        return await self._answer(
            self.client.send_text(self.user_id, text, language_code=self.language)
        )

    async def press(self, label: int) -> str:
        return await self._answer(
            self.client.press_button(self.user_id, self.user_id, label, language_code=self.language)
        )

    async def press_last(self) -> str:
        return await self.press(last_answer_button(await self.client.messages(self.user_id)))


def last_answer_button(messages: list[dict[str, Any]]) -> int:
    """The number of the last button of the newest keyboard that answers the question
    ("mine is different", "let the staff decide", "submit"): the ◀ Back under it is not."""
    markup = next(m["reply_markup"] for m in reversed(messages) if m.get("reply_markup"))
    buttons = [button for row in markup["inline_keyboard"] for button in row]
    return max(number for number, button in enumerate(buttons, start=1) if not _is_back(button))


def _is_back(button: dict[str, Any]) -> bool:
    callback = decode_callback(str(button.get("callback_data", "")))
    return callback is not None and callback.value == BACK


async def _walk_intake(citizen: Citizen, pause: Callable[[], Awaitable[None]]) -> str:
    """The whole intake, as `tests/e2e/support.walk` walks it; the last answer (the
    reference)."""
    data = WALKS[citizen.language]
    steps: list[Callable[[], Awaitable[str]]] = [
        lambda: citizen.say("/start"),
        lambda: citizen.press(1),
        lambda: citizen.say(data["title"]),
        lambda: citizen.say(data["description"]),
        lambda: citizen.say(data["where"]),
    ]
    if data["where"] == "ixelle":  # a typo: the bot asks to confirm Ixelles
        steps.append(lambda: citizen.press(1))
    steps += [
        lambda: citizen.press(3),  # carried by an association
        lambda: citizen.press(4),  # a school as partner
        lambda: citizen.press(8),  # done
    ]
    for step in steps:
        await step()
        await pause()
    answer = await citizen.press(14)  # the suggested themes: done
    await pause()
    if data["similar"] in answer:
        await citizen.press_last()  # mine is different
        await pause()
    later: list[Callable[[], Awaitable[str]]] = [
        lambda: citizen.say(data["budget"]),
        citizen.press_last,  # let the staff choose the call
        lambda: citizen.say(data["name"]),
        lambda: citizen.say(data["contact"]),
        lambda: citizen.press(1),  # may be contacted
        lambda: citizen.press(2),  # not shared with coaches
    ]
    for step in later:
        await step()
        await pause()
    return await citizen.press_last()  # submit


async def _walk_echo(citizen: Citizen, pause: Callable[[], Awaitable[None]]) -> str:
    answer = ""
    for number in range(1, ECHO_INPUTS + 1):
        answer = await citizen.say(f"message {number}")
        await pause()
    return answer


async def _crowd(
    run: Run,
    crowd: Crowd,
    client: EmulatorClient,
    walk: Callable[[Citizen, Callable[[], Awaitable[None]]], Awaitable[str]],
    finished: Finished,
) -> list[str]:
    """Every citizen walks; the last answer of each who completed."""

    async def one(number: int) -> str | None:
        await asyncio.sleep(crowd.arrival(number))
        citizen = Citizen(client, FIRST_CITIZEN + number, LANGUAGES[number % 3], run, finished)
        draw = crowd.pauses(number)

        async def pause() -> None:
            await asyncio.sleep(draw())

        try:
            return await walk(citizen, pause)
        except (TimeoutError, LookupError, StopIteration):
            return None

    run.citizens = crowd.citizens
    machine_before, bot_before = _machine_ticks(), _process_ticks(run.pids)
    started = time.perf_counter()
    answers = await asyncio.gather(*(one(n) for n in range(crowd.citizens)))
    run.seconds = time.perf_counter() - started
    (busy, total), bot_after = _machine_ticks(), _process_ticks(run.pids)
    if total > machine_before[1]:
        run.machine_busy = round((busy - machine_before[0]) / (total - machine_before[1]), 2)
    if run.pids and run.seconds:
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        run.bot_cpu_cores = round((bot_after - bot_before) / ticks_per_second / run.seconds, 2)
    walked = [answer for answer in answers if answer is not None]
    run.completed = len(walked)
    return walked


async def _references(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(Proposal.reference))).scalars())
    finally:
        await engine.dispose()


async def _bot_run(
    crowd: Crowd,
    *,
    instances: int,
    webhook: bool,
    database_url: str | None,
    limits: bool,
    concurrency: int,
) -> Run:
    name = f"intake bot ×{instances}" + (" (webhook)" if webhook else " (polling)")
    run = Run(name)
    python = sys.executable
    emulator, base_url = await start_emulator(token=TOKEN)
    try:
        with tempfile.TemporaryDirectory(prefix="intake-bench-") as folder:
            workdir = Path(folder)
            url = database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
            await prepare_database(url)
            settings = {"MAX_CONCURRENT_UPDATES": str(concurrency)}
            if not limits:
                settings["TELEGRAM_MAX_MESSAGES_PER_SECOND"] = NO_LIMITS
                settings["TELEGRAM_MAX_GROUP_MESSAGES_PER_MINUTE"] = NO_LIMITS
            ports = [free_port() for _ in range(instances)]
            commands = []
            for port in ports:
                extra = dict(settings)
                if webhook:
                    extra.update(
                        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{ports[0]}/telegram/webhook",
                        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                        WEBHOOK_PORT=str(port),
                    )
                commands.append(
                    ([python, "-m", "bot", "bot"], bot_environment(base_url, url, **extra))
                )
            async with (
                EmulatorClient(base_url.removesuffix("/bot")) as client,
                _inbox_done(url) as finished,
                _processes(commands, workdir / "process.log", run),
            ):
                if webhook:
                    await client.spread_webhook(
                        [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
                    )
                await _warm_up(client, finished)
                await client.hold(crowd.rtt_ms / 1000, methods=LATENCY_METHODS)
                answers = await _crowd(run, crowd, client, _walk_intake, finished)
            references = await _references(url)
            run.references = [r for r in references if any(r in a for a in answers)]
    finally:
        await emulator.cleanup()
    return run


async def _warm_up(client: EmulatorClient, finished: Finished) -> None:
    """One answer from the bot (it has started) before the clock runs."""
    await Citizen(client, FIRST_CITIZEN - 1, "fr", Run("warm-up"), finished).say("/help")


async def _one_message(update_id: int) -> bool:
    """The echo bot answers with one message: the first is the last."""
    return True


@contextlib.asynccontextmanager
async def _inbox_done(database_url: str) -> AsyncIterator[Finished]:
    """Asks the bot's inbox whether an update is done (applied and answered)."""
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    bot_id = int(TOKEN.partition(":")[0])

    async def finished(update_id: int) -> bool:
        async with sessions() as session:
            status = await session.scalar(
                select(InboxUpdate.status).where(
                    InboxUpdate.bot_id == bot_id, InboxUpdate.update_id == update_id
                )
            )
        return status == UPDATE_DONE

    try:
        yield finished
    finally:
        await engine.dispose()


async def _echo_run(crowd: Crowd) -> Run:
    run = Run("echo bot (python-telegram-bot, concurrent)")
    emulator, base_url = await start_emulator(token=TOKEN)
    try:
        with tempfile.TemporaryDirectory(prefix="intake-bench-") as folder:
            workdir = Path(folder)
            env = bot_environment(base_url, f"sqlite+aiosqlite:///{workdir}/unused.db")
            command = [sys.executable, "-m", "bot.runners.benchmarks.echo"]
            async with (
                EmulatorClient(base_url.removesuffix("/bot")) as client,
                _processes([(command, env)], workdir / "process.log", run),
            ):
                await _warm_up(client, _one_message)
                await client.hold(crowd.rtt_ms / 1000, methods=LATENCY_METHODS)
                await _crowd(run, crowd, client, _walk_echo, _one_message)
    finally:
        await emulator.cleanup()
    return run


async def run_load_benchmark(
    citizens: int = 50,
    *,
    think: tuple[float, float] = (0.0, 0.0),
    arrive_over: float = 0.0,
    rtt_ms: float = 50.0,
    instances: int = 1,
    webhook: bool = False,
    database_url: str | None = None,
    limits: bool = True,
    concurrency: int = 16,
) -> dict[str, Any]:
    """The echo bot, then the real bot, with the same crowd."""
    if instances > 1 and not (database_url or "").startswith("postgresql"):
        raise ValueError("several instances share a PostgreSQL database: give --database")
    crowd = Crowd(citizens, think, arrive_over, rtt_ms)
    echo = await _echo_run(crowd)
    bot = await _bot_run(
        crowd,
        instances=instances,
        webhook=webhook or instances > 1,
        database_url=database_url,
        limits=limits,
        concurrency=concurrency,
    )
    return {
        "citizens": citizens,
        "think_seconds": list(think),
        "arrive_over_seconds": arrive_over,
        "rtt_ms": rtt_ms,
        "limits": limits,
        "database": "postgresql" if (database_url or "").startswith("postgresql") else "sqlite",
        "max_concurrent_updates": concurrency,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "runs": [echo.to_json(), bot.to_json()],
    }


def format_load_report(result: dict[str, Any]) -> str:
    low, high = result["think_seconds"]
    think = "no pause" if high == 0 else f"pausing {low:g}–{high:g} s"
    lines = [
        f"{result['citizens']} citizens arriving over {result['arrive_over_seconds']:g} s, "
        f"{think}, {result['rtt_ms']:g} ms round trip, Telegram's limits "
        f"{'on' if result['limits'] else 'off'}, {result['database']} "
        f"(Python {result['python']}, {result['cores']} cores)",
        f"  {'':42} {'upd/s':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'calls/upd':>9} "
        f"{'completed':>10} {'peak RSS':>9} {'bot CPU':>9} {'machine':>8}",
    ]
    for run in result["runs"]:
        unique = "" if run["unique_references"] else " (duplicate references!)"
        rss = "—" if run["peak_rss_mb"] is None else f"{run['peak_rss_mb']:.0f} MB"
        cpu = "—" if run["bot_cpu_cores"] is None else f"{run['bot_cpu_cores']:.2f} cores"
        busy = "—" if run["machine_busy"] is None else f"{run['machine_busy']:.0%} busy"
        lines.append(
            f"  {run['name']:42} {run['updates_per_second']:>6.1f} "
            f"{run['wait_p50_ms'] or 0:>5.0f} ms {run['wait_p95_ms'] or 0:>5.0f} ms "
            f"{run['wait_p99_ms'] or 0:>5.0f} ms {run['calls_per_update'] or 0:>9.2f} "
            f"{run['completed']:>4}/{run['citizens']:<5} {rss:>9} {cpu:>9} {busy:>8}{unique}"
        )
    return "\n".join(lines)
