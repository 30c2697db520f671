"""SIGKILL at random moments while a crowd walks the intake: nothing the emulator delivered is
lost or applied twice (the inbox), on SQLite and on PostgreSQL.

Each citizen sends an input and waits until the bot has applied and answered it (its inbox
row is done), as a person waits for the answer before the next input, however long the bot
was down. A kill can fall after an answer was sent but before the update was marked done:
the answer is then sent again (at least once), never the change applied again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator.client import EmulatorClient
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation, InboxUpdate, Proposal
from tests.e2e.support import TOKEN, WALKS
from tests.processes import IntakeProcess, intake_env, run_intake

pytestmark = pytest.mark.e2e

BOT_ID = int(TOKEN.split(":")[0])
CITIZENS = 20
KILLS = 6
SEED = 20261206


class PatientCitizen:
    """Sends an input, then waits until the bot has applied and answered it."""

    def __init__(
        self,
        client: EmulatorClient,
        sessions: async_sessionmaker[AsyncSession],
        user_id: int,
        language_code: str,
    ) -> None:
        self.client, self.sessions = client, sessions
        self.user_id, self.language_code = user_id, language_code

    async def say(self, text: str) -> str:
        return await self._settled(
            lambda: self.client.send_text(self.user_id, text, language_code=self.language_code)
        )

    async def press(self, label: str | int) -> str:
        return await self._settled(
            lambda: self.client.press_button(
                self.user_id, self.user_id, label, language_code=self.language_code
            )
        )

    async def press_last(self) -> str:
        messages = await self.client.messages(self.user_id)
        markup = next(m["reply_markup"] for m in reversed(messages) if m.get("reply_markup"))
        return await self.press(sum(len(row) for row in markup["inline_keyboard"]))

    async def _settled(self, send: Callable[[], Awaitable[int]]) -> str:
        update_id = await send()
        async with asyncio.timeout(120):
            while True:
                async with self.sessions() as session:
                    row = await session.get(InboxUpdate, (BOT_ID, update_id))
                    if row is not None and row.status == "done":
                        break
                await asyncio.sleep(0.1)
        messages = await self.client.messages(self.user_id)
        return str(messages[-1].get("text") or "")


async def walk(citizen: PatientCitizen, data: dict[str, Any]) -> str:
    """The intake from /start to the submission (the same path as `tests.e2e.support.walk`)."""
    await citizen.say("/start")
    await citizen.press(1)
    await citizen.say(data["title"])
    await citizen.say(data["description"])
    await citizen.say(data["where"])
    if data["where"] == "ixelle":
        await citizen.press(1)
    await citizen.press(3)
    await citizen.press(4)
    await citizen.press(8)
    reply = await citizen.press(14)
    if data["similar"] in reply:
        await citizen.press_last()
    await citizen.say(data["budget"])
    await citizen.press_last()
    await citizen.say(data["name"])
    await citizen.say(data["contact"])
    await citizen.press(1)
    await citizen.press(2)
    return await citizen.press_last()


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    emulator: str, any_database_url: str, tmp_path: Path
) -> None:
    env = intake_env(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator,
        DATABASE_URL=any_database_url,
        INBOX_LEASE_SECONDS="2",  # a killed process's updates are taken up again soon
    )
    code, _out, err = await run_intake(env, tmp_path, "migrate")
    assert code == 0, err
    bot = IntakeProcess(env, tmp_path, "bot")
    bot.start()
    engine = create_engine(any_database_url)
    sessions = create_sessionmaker(engine)
    languages = ["fr", "nl", "en"]
    try:
        async with EmulatorClient(emulator) as client:
            citizens = [
                PatientCitizen(client, sessions, 9100 + n, languages[n % 3])
                for n in range(CITIZENS)
            ]
            walks = [asyncio.create_task(walk(c, WALKS[c.language_code])) for c in citizens]
            chance = random.Random(SEED)
            for _ in range(KILLS):
                await asyncio.sleep(chance.uniform(1.5, 4.0))
                await asyncio.to_thread(bot.kill)
                bot.start()
            answers = await asyncio.gather(*walks)
        async with sessions() as session:
            proposals = list((await session.execute(select(Proposal))).scalars())
            conversations = {
                c.chat_id: c for c in (await session.execute(select(Conversation))).scalars()
            }
            unfinished = (
                (await session.execute(select(InboxUpdate).where(InboxUpdate.status != "done")))
                .scalars()
                .all()
            )
    finally:
        await asyncio.to_thread(bot.stop)
        await engine.dispose()
    assert len(proposals) == CITIZENS
    assert len({p.reference for p in proposals}) == CITIZENS
    by_chat = {p.citizen_id: p for p in proposals}
    assert len(by_chat) == CITIZENS  # one proposal each: no input applied twice
    for citizen, answer in zip(citizens, answers, strict=True):
        data = WALKS[citizen.language_code]
        assert conversations[citizen.user_id].step == "done"
        proposal = next(p for p in proposals if p.reference in answer)
        assert proposal.title == data["title"] and proposal.description == data["description"]
        assert proposal.budget_cents == data["cents"]
    assert unfinished == []
    # some kills fall while a process starts up; most while it serves
    assert bot.log().count("bot started") >= KILLS // 2
