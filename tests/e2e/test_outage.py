"""PostgreSQL stopped for 10 s in the middle of conversations and started again: every input
is applied once it is back, in order, and each citizen is answered.

The server is the test's own (`tests.postgres.PostgresServer`), so that stopping it leaves
the other tests' server alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.emulator.client import EmulatorClient
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation, Proposal
from tests.e2e.support import TOKEN, WALKS, PatientCitizen
from tests.postgres import PostgresServer, find_bindir, running_postgres
from tests.processes import IntakeProcess, intake_env, run_intake

pytestmark = pytest.mark.e2e

CITIZENS = 6
OUTAGE_SECONDS = 10


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    if find_bindir() is None:
        pytest.skip("PostgreSQL binaries not found")
    with running_postgres() as server:
        yield server


async def test_postgresql_down_for_ten_seconds_loses_nothing(
    emulator: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    env = intake_env(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator,
        DATABASE_URL=postgres.url,
        INBOX_LEASE_SECONDS="5",
    )
    code, _out, err = await run_intake(env, tmp_path, "migrate")
    assert code == 0, err
    bot = IntakeProcess(env, tmp_path, "bot")
    bot.start()
    engine = create_engine(postgres.url)
    sessions = create_sessionmaker(engine)
    languages = ["fr", "nl", "en"]
    try:
        async with EmulatorClient(emulator) as client:
            citizens = [
                PatientCitizen(client, sessions, 9300 + n, languages[n % 3])
                for n in range(CITIZENS)
            ]

            async def begin(citizen: PatientCitizen) -> None:
                await citizen.say("/start")
                await citizen.press(1)
                await citizen.say(WALKS[citizen.language_code]["title"])

            await asyncio.gather(*(begin(c) for c in citizens))
            # Each sends the description; the database goes down while the answers are on
            # their way (Telegram holds them 2 s): the updates were applied, but cannot be
            # marked done, so they are taken up again and only their answers sent again.
            await client.hold(2.0)
            sent = [
                await client.send_text(
                    c.user_id,
                    WALKS[c.language_code]["description"],
                    language_code=c.language_code,
                )
                for c in citizens
            ]
            await asyncio.sleep(0.5)
            await asyncio.to_thread(postgres.stop)
            await client.release_hold()
            # ... and each sends the postcode while it is down
            sent += [
                await client.send_text(
                    c.user_id, WALKS[c.language_code]["where"], language_code=c.language_code
                )
                for c in citizens
            ]
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(postgres.start)
            answers = await asyncio.gather(
                *(c.settled(update_id) for c, update_id in zip(citizens * 2, sent, strict=True))
            )
            assert all(answers)
        async with sessions() as session:
            conversations = {
                c.chat_id: c for c in (await session.execute(select(Conversation))).scalars()
            }
            proposals = (await session.execute(select(Proposal))).scalars().all()
    finally:
        await asyncio.to_thread(bot.stop)
        await engine.dispose()
    assert proposals == []
    for citizen in citizens:
        data = WALKS[citizen.language_code]
        conversation = conversations[citizen.user_id]
        # title, then description, then where: applied in that order, each once
        assert conversation.draft["title"] == data["title"]
        assert conversation.draft["description"] == data["description"]
        expected = "where_confirm" if data["where"] == "ixelle" else "carrier"
        assert conversation.step == expected, (citizen.language_code, conversation.step)
    log = bot.log()
    assert "could not claim updates from the inbox" in log  # the outage was felt, and logged
    assert "could not receive updates" in log
