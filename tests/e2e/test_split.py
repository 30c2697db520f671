"""The three parts of the program as separate processes, as a deployment runs them:
`intake bot` answers citizens, `intake dispatch` sends what the outbox holds, `intake web`
serves the staff; they share one database and nothing else."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from bot.emulator.client import EmulatorClient
from tests.e2e.support import TOKEN, WALKS, Citizen, stored_proposals, walk
from tests.processes import IntakeProcess, intake_env, process_reference, run_intake

pytestmark = pytest.mark.e2e

STAFF_GROUP = -1009876543210


async def test_bot_dispatch_and_web_as_three_processes(
    emulator: str, database: str, tmp_path: Path
) -> None:
    env = intake_env(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator,
        DATABASE_URL=database,
        WEB_PORT="0",
        STAFF_CHAT_ID=str(STAFF_GROUP),
    )
    code, _out, err = await run_intake(env, tmp_path, "migrate")  # once, before the processes
    assert code == 0, err
    processes = [
        IntakeProcess(env, tmp_path, command, command) for command in ("bot", "dispatch", "web")
    ]
    for process in processes:
        process.start()
    try:
        async with EmulatorClient(emulator) as client:
            done = await walk(Citizen(client, 7801, "fr"), WALKS["fr"])
            [proposal] = await stored_proposals(database)
            assert process_reference(proposal) in done  # the bot answered
            # the staff group's summary went through the outbox, sent by `intake dispatch`
            events = await client.wait_for_reply(STAFF_GROUP, timeout=30)
            assert any(proposal.reference in str(e.get("text")) for e in events)
            # post_init of `intake bot` registered the command menus
            assert {c["language_code"] for c in await client.commands()} >= {"fr", "nl", "en"}
        web = processes[2]
        address = None
        async with asyncio.timeout(20):
            while address is None:
                address = re.search(r"Back-office: (http://\S+)", web.log())
                await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session:
            async with session.get(address.group(1) + "healthz") as health:
                assert health.status == 200
    finally:
        # The emulator runs on this event loop: wait in threads so it keeps answering.
        codes = [await asyncio.to_thread(process.stop) for process in processes]
    for process, code in zip(processes, codes, strict=True):
        assert code == 0, f"intake {process.command} exited with {code}:\n{process.log()}"
        assert "Traceback" not in process.log(), process.log()
    assert "bot started" in processes[0].log()
