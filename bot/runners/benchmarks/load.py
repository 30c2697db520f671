"""`intake bench load`: a crowd of citizens at once against the real bot, as Telegram brings them.

Each run starts the local Bot API emulator in this process, adds a round trip to Telegram
(`latency`, 50 ms by default, a realistic figure from a Brussels server) to every Bot API
call that answers a citizen, starts the bot as a process of its own (`intake bot` on a fresh
SQLite database, with `MAX_CONCURRENT_UPDATES` set for the run) and lets `citizens`
citizens walk the first steps of the intake at the same time: /start, the Start button, a
title, a description, a postcode. Each wait is timed from the moment a citizen sends to the
bot's next message in that chat. The same crowd then writes to a bare python-telegram-bot
echo bot (`bot.runners.benchmarks.echo`), the yardstick, in the same run: compare ratios
measured together, machines are noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.emulator.client import EmulatorClient
from bot.emulator.server import start_emulator
from bot.runners.process import prepare_database
from bot.runners.settings import Settings

TOKEN = "111111111:BENCH-local-emulator-token-not-secret"
LATENCY_METHODS = [
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
]
"""The calls that answer a citizen; getUpdates is a long poll and keeps its own pace."""
STEPS: tuple[tuple[str, str | int], ...] = (
    ("text", "/start"),
    ("press", 1),
    ("text", "Un compost collectif dans la rue"),
    ("text", "Installer des bacs à compost avec les voisins et l'école pour réduire les déchets."),
    ("text", "1030"),
)
ECHO_STEPS: tuple[tuple[str, str | int], ...] = tuple(
    ("text", f"message {number}") for number in range(1, len(STEPS) + 1)
)
FIRST_CITIZEN = 500_001
ANSWER_TIMEOUT = 120.0
SETTING_NAMES = tuple(name.upper() for name in Settings.model_fields)


@dataclass
class Run:
    """One crowd against one bot: every wait, and how long the crowd took."""

    name: str
    seconds: float = 0.0
    waits: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.waits)
        return {
            "name": self.name,
            "updates": len(ordered),
            "seconds": round(self.seconds, 3),
            "updates_per_second": round(len(ordered) / self.seconds, 1) if self.seconds else 0,
            "wait_p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
            "wait_p99_ms": round(_percentile(ordered, 0.99) * 1000, 1) if ordered else None,
        }


def _percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _environment(base_url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """This environment without the program's own settings, plus the run's."""
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/bench.db",
        LOG_LEVEL="WARNING",
        **settings,
    )
    return env


@contextlib.asynccontextmanager
async def _process(args: Sequence[str], env: dict[str, str], log: Path) -> AsyncIterator[None]:
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, cwd=log.parent, stdout=output, stderr=output
        )
    try:
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _next_message(client: EmulatorClient, chat_id: int, after: int) -> int:
    """Wait for the bot's next message in the chat; returns the newest event's number."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer in chat {chat_id} within {ANSWER_TIMEOUT:.0f} s")
        events = await client.events(chat_id, after=after, timeout=min(remaining, 10.0))
        if events:
            after = int(events[-1]["seq"])
            if any(event["kind"] == "send" for event in events):
                return after


async def _citizen(
    client: EmulatorClient, user_id: int, steps: Sequence[tuple[str, str | int]], run: Run
) -> None:
    after = 0
    for kind, value in steps:
        started = time.perf_counter()
        if kind == "text":
            await client.send_text(user_id, str(value), language_code="fr")
        else:
            await client.press_button(user_id, user_id, value, language_code="fr")
        after = await _next_message(client, user_id, after)
        run.waits.append(time.perf_counter() - started)


async def _crowd(
    name: str,
    command: Sequence[str],
    steps: Sequence[tuple[str, str | int]],
    *,
    citizens: int,
    latency: float,
    settings: dict[str, str],
) -> Run:
    emulator, base_url = await start_emulator(token=TOKEN)
    try:
        with tempfile.TemporaryDirectory(prefix="intake-bench-") as folder:
            workdir = Path(folder)
            env = _environment(base_url, workdir, **settings)
            await prepare_database(env["DATABASE_URL"])
            async with (
                EmulatorClient(base_url.removesuffix("/bot")) as client,
                _process(command, env, workdir / "process.log"),
            ):
                await client.hold(latency, methods=LATENCY_METHODS)
                await _citizen(client, FIRST_CITIZEN - 1, steps[:1], Run("warm-up"))
                run = Run(name)
                started = time.perf_counter()
                await asyncio.gather(
                    *(_citizen(client, FIRST_CITIZEN + n, steps, run) for n in range(citizens))
                )
                run.seconds = time.perf_counter() - started
                return run
    finally:
        await emulator.cleanup()


async def run_load_benchmark(
    citizens: int = 50, latency: float = 0.05, concurrency: Sequence[int] = (1, 16)
) -> dict[str, Any]:
    """The echo bot, then the real bot at each `concurrency` (MAX_CONCURRENT_UPDATES)."""
    python = sys.executable
    runs = [
        await _crowd(
            "echo bot (python-telegram-bot, concurrent)",
            [python, "-m", "bot.runners.benchmarks.echo"],
            ECHO_STEPS,
            citizens=citizens,
            latency=latency,
            settings={},
        )
    ]
    for places in concurrency:
        runs.append(
            await _crowd(
                f"intake bot, MAX_CONCURRENT_UPDATES={places}",
                [python, "-m", "bot", "bot"],
                STEPS,
                citizens=citizens,
                latency=latency,
                settings={"MAX_CONCURRENT_UPDATES": str(places)},
            )
        )
    return {
        "citizens": citizens,
        "latency_ms": round(latency * 1000, 1),
        "steps": len(STEPS),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "runs": [run.to_json() for run in runs],
    }


def format_load_report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['citizens']} citizens at once, {result['steps']} messages each, "
        f"{result['latency_ms']:g} ms added to each Bot API call "
        f"(Python {result['python']}, {result['cores']} cores)",
        f"  {'':44} {'updates/s':>9} {'wait p50':>10} {'wait p99':>10}",
    ]
    for run in result["runs"]:
        lines.append(
            f"  {run['name']:44} {run['updates_per_second']:>9.1f} "
            f"{run['wait_p50_ms']:>8.0f} ms {run['wait_p99_ms']:>7.0f} ms"
        )
    return "\n".join(lines)
