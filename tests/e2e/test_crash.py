"""SIGKILL at random moments while a crowd walks the intake: nothing the emulator delivered is
lost or applied twice (the inbox), on SQLite and on PostgreSQL.

Each citizen sends an input and waits until the bot has applied and answered it
(`tests.e2e.support.PatientCitizen`), however long the bot was down. A kill can fall after
an answer was sent but before the update was marked done: the answer is then sent again
(at least once), never the change applied again.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.emulator.client import EmulatorClient
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation, InboxUpdate, Proposal
from tests.e2e.support import TOKEN, WALKS, PatientCitizen, walk
from tests.processes import IntakeProcess, intake_env, run_intake

pytestmark = pytest.mark.e2e

CITIZENS = 20
KILLS = 6
SEED = 20261206


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
            for kill in range(KILLS):
                # each kill at a random moment once the process serves (start-up is slow
                # on a busy machine, and a kill then would test nothing)
                async with asyncio.timeout(90):
                    while bot.log().count("bot started") <= kill:  # noqa: ASYNC110 (a file)
                        await asyncio.sleep(0.1)
                await asyncio.sleep(chance.uniform(0.5, 3.0))
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
    assert bot.log().count("bot started") == KILLS + 1
