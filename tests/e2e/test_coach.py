"""End to end for coaches: the real `intake run` process against the local Bot API emulator.

A coach invited with `intake coach invite` opens the deep link, follows an initiative in
the /coach menu, and receives exactly one alert, in the coach's language, for a citizen's
proposal that matches it, and nothing for one that does not.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.emulator.client import EmulatorClient
from bot.text.i18n import Translator
from storage.database import create_engine, create_sessionmaker
from storage.models import CoachAlert, OutboxMessage, Proposal
from tests.e2e.support import TOKEN, WALKS, Citizen, stored_proposals, walk
from tests.processes import IntakeProcess, intake_env, process_reference, run_intake

pytestmark = pytest.mark.e2e

COACH = 7600
CATALOGUE = """external_id,name,description,commune,themes,language,url
e2e-compost,Compost de la rue Royale,"Des voisins de la rue Royale et l'école du quartier \
gèrent ensemble des bacs à compost pour réduire les déchets.",Schaerbeek,compost;zero_waste,fr,
"""


@pytest.fixture
async def bot(emulator: str, database: str, tmp_path: Path) -> AsyncIterator[IntakeProcess]:
    env = intake_env(
        TELEGRAM_TOKEN=TOKEN, TELEGRAM_API_URL=emulator, DATABASE_URL=database, WEB_PORT="0"
    )
    process = IntakeProcess(env, tmp_path)
    # the staff's catalogue, before the bot starts (it reads the catalogue at start-up)
    (tmp_path / "catalogue.csv").write_text(CATALOGUE, encoding="utf-8")
    await intake(process, "initiatives", "import", str(tmp_path / "catalogue.csv"))
    process.start()
    yield process
    code = await asyncio.to_thread(process.stop)
    assert code == 0, f"the bot exited with {code}:\n{process.log()}"
    assert "Traceback" not in process.log(), process.log()


async def intake(bot: IntakeProcess, *args: str) -> tuple[str, str]:
    code, out, err = await run_intake(bot.env, bot.workdir, *args)
    assert code == 0, err
    return out, err


async def started(bot: IntakeProcess) -> None:
    """Wait until the process has migrated the database and serves (it prints the address)."""
    for _ in range(600):
        if "Back-office:" in bot.log():
            return
        assert bot.process is not None and bot.process.poll() is None, bot.log()
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bot did not start:\n{bot.log()}")


async def count(database: str, model: type, **where: object) -> int:
    engine = create_engine(database)
    try:
        async with create_sessionmaker(engine)() as session:
            statement = select(func.count()).select_from(model).filter_by(**where)
            return int((await session.execute(statement)).scalar_one())
    finally:
        await engine.dispose()


async def test_a_coach_gets_one_alert_in_their_language(
    bot: IntakeProcess, emulator: str, database: str, tmp_path: Path
) -> None:
    await started(bot)
    link, _hint = await intake(bot, "coach", "invite", "Anne Peeters", "--language", "nl")
    # the username comes from the emulator's getMe
    found = re.fullmatch(r"https://t\.me/intake_demo_bot\?start=(coach-[A-Za-z0-9_-]+)\n", link)
    assert found, link

    async with EmulatorClient(emulator) as client:
        coach = Citizen(client, COACH, "fr")  # Telegram in French; the coach reads Dutch
        welcome = await coach.say(f"/start {found.group(1)}")
        assert "Anne Peeters" in welcome
        await coach.press("📌")  # initiatives (the labels are in Dutch)
        await coach.say("rue royale")
        await coach.press("Compost de la rue Royale")
        assert "✅ Compost de la rue Royale" in str(await client.messages(COACH))

        done = await walk(Citizen(client, 7601, "fr"), WALKS["fr"])
        [first] = await stored_proposals(database)
        assert first.id == 1 and process_reference(first) in done
        events = await client.wait_for_reply(COACH, timeout=30)
        [alert] = [e for e in events if "🔔" in str(e.get("text"))]
        text = str(alert["text"])
        assert WALKS["fr"]["title"] in text and first.reference in text
        assert "Compost de la rue Royale" in text
        # Dutch, not the citizen's French nor the coach's Telegram language
        assert "Schaarbeek" in text and "zelfde gemeente" in text and "€\xa02.500" in text
        assert "Schaerbeek" not in text

        done = await walk(Citizen(client, 7602, "en"), WALKS["en"])
        second = (await stored_proposals(database))[1]
        assert second.id == 2 and process_reference(second) in done
        # alerts are written with the submission: none for the repair café, ever
        assert await count(database, Proposal) == 2
        assert await count(database, CoachAlert) == 1
        assert await count(database, OutboxMessage, chat_id=COACH) == 1

        took = Translator("nl").gettext("You took it.")
        reply = await coach.press(Translator("nl").gettext("I'll take it"))
        assert took in reply
        alerts = [m for m in await client.messages(COACH) if "🔔" in str(m.get("text"))]
        assert len(alerts) == 1 and took in str(alerts[0]["text"])
