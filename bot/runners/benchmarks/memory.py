"""`intake bench memory`: what open conversations cost the bot's memory.

Conversation state lives in the database, so a bot process should weigh the same with ten
or ten thousand citizens half-way through the intake. This starts `intake bot` against the
local emulator on a fresh SQLite database, reads its resident memory once it has answered
a first citizen, lets `conversations` other citizens each open a conversation (/start, then
the button that starts the intake: they stay at the title question), and reads the
memory again once every update is done.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.emulator.client import EmulatorClient
from bot.runners.benchmarks.load import FIRST_CITIZEN, intake_on_emulator
from storage.database import create_engine, create_sessionmaker
from storage.models import UPDATE_DONE, Conversation, InboxUpdate

SENDERS = 20
"""Citizens writing at the same time (the emulator answers in this process)."""


def resident_mb(pid: int) -> float:
    """The process's resident memory now (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc: Linux only")


async def _done(database_url: str, expected: int, timeout: float = 3600) -> None:  # noqa: ASYNC109
    engine = create_engine(database_url)
    try:
        sessions = create_sessionmaker(engine)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(InboxUpdate.status == UPDATE_DONE)
                )
            if done is not None and done >= expected:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"the bot did not finish {expected} updates in {timeout:.0f} s")
    finally:
        await engine.dispose()


async def _open(client: EmulatorClient, user_ids: list[int]) -> None:
    """Each citizen: /start, then the welcome's button (the intake begins)."""
    for user_id in user_ids:
        await client.send_text(user_id, "/start", language_code="fr")
        await client.wait_for_reply(user_id, timeout=120, quiet=0.0)
        await client.press_button(user_id, user_id, 1, language_code="fr")
        await client.wait_for_reply(user_id, timeout=120, quiet=0.0)


async def _open_conversations(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            count = await session.scalar(select(func.count()).where(Conversation.step == "title"))
        return int(count or 0)
    finally:
        await engine.dispose()


async def run_memory_benchmark(conversations: int = 10_000) -> dict[str, Any]:
    async with (
        intake_on_emulator("bot") as bot,
        EmulatorClient(bot.emulator_url) as client,
    ):
        await _open(client, [FIRST_CITIZEN - 1])
        before = resident_mb(bot.process.pid)
        started = time.perf_counter()
        users = [FIRST_CITIZEN + n for n in range(conversations)]
        await asyncio.gather(*(_open(client, users[k::SENDERS]) for k in range(SENDERS)))
        await _done(bot.database_url, 2 * (conversations + 1))
        seconds = time.perf_counter() - started
        after = resident_mb(bot.process.pid)
        opened = await _open_conversations(bot.database_url)
    return {
        "conversations": conversations,
        "open_at_title": opened,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "added_mb": round(after - before, 1),
        "seconds": round(seconds, 1),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }


def format_memory_report(result: dict[str, Any]) -> str:
    return (
        f"{result['open_at_title']} conversations opened in {result['seconds']:g} s "
        f"(Python {result['python']}, {result['cores']} cores): the bot's resident memory went "
        f"from {result['rss_before_mb']:g} MB to {result['rss_after_mb']:g} MB "
        f"(+{result['added_mb']:g} MB)"
    )
