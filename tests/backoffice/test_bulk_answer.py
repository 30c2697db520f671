"""A bulk answer from an answer template, end to end: staff tick three proposals in the
list in headless Chromium and send one template; the French citizen and the Dutch citizen
each receive it in their language on (the local emulator of) Telegram once the minute to
undo is over, with their first name and reference filled in; the English citizen, whose
language the template lacks, is skipped and the result page says why."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.delivery.dispatcher import Dispatcher
from bot.emulator.client import EmulatorClient
from storage.answer_templates import save_template
from storage.clock import utcnow
from storage.database import create_sessionmaker
from storage.staff import add_staff
from tests.backoffice.support import SECRET, sign_in
from tests.clock import MovingClock
from tests.factories import make_citizen, make_proposal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
    ),
]

TOKEN = "777014:BULK-ANSWER-test-token"
SAM = ("sam@example.brussels", "sam passphrase long enough")  # reads English
CHATS = {"fr": 5101, "nl": 5102, "en": 5103}


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Sam, a template for accepted Inspirons projects in French and Dutch, and a proposal
    of that call by a French, a Dutch and an English-speaking citizen; its id and the
    references by language."""
    async with sessions() as session, session.begin():
        await add_staff(session, SAM[0], hash_password(SAM[1]), "reviewer", "en")
        template = await save_template(
            session,
            None,
            name="Retenu",
            call_id="inspirons_projet",
            status="accepted",
            texts={
                "fr": "Bonjour {first_name}, votre projet « {title} » ({reference}) est retenu.",
                "nl": "Dag {first_name}, je project ‘{title}’ ({reference}) is gekozen.",
            },
            updated_by=SAM[0],
        )
        found = {"template": str(template.id)}
        for language, title, name in (
            ("fr", "Un potager rue Haute", "Sofia Peeters"),
            ("nl", "Een samentuin", "Jan Janssens"),
            ("en", "A repair café", "Sam Smith"),
        ):
            citizen = await make_citizen(session, CHATS[language], language)
            proposal = await make_proposal(
                session,
                citizen,
                language=language,
                title=title,
                contact_name=name,
                call_id="inspirons_projet",
            )
            found[language] = proposal.reference
        return found


@pytest.fixture
async def telegram(emulator: str) -> AsyncIterator[tuple[Bot, EmulatorClient]]:
    async with Bot(TOKEN, base_url=emulator) as bot, EmulatorClient(emulator) as client:
        yield bot, client


async def test_one_template_reaches_two_citizens_each_in_their_language(
    browser: Browser,
    sessions: async_sessionmaker[AsyncSession],
    seeded: dict[str, str],
    telegram: tuple[Bot, EmulatorClient],
    fixed_clock: MovingClock,
) -> None:
    bot, emulator = telegram
    server = TestServer(create_app(sessions, secret_key=SECRET, default_language="en"))
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        tab = await browser.new_page()
        await sign_in(tab, root, SAM)
        await tab.goto(f"{root}/proposals")
        for language in ("fr", "nl", "en"):
            await tab.get_by_label(f"Select {seeded[language]}").check()
        await tab.get_by_label("Answer with a template").select_option(seeded["template"])
        await tab.get_by_role("button", name="Send the answer").click()
        await tab.wait_for_url(re.compile(r"/proposals/bulk/\d+$"))
        assert await tab.locator("#done-line").inner_text() == (
            "2 citizens answered with “Retenu”."
        )
        result = await tab.locator("#result").inner_text()
        assert f"{seeded['en']}: the template has no text in the citizen's language" in result
        await tab.close()
    finally:
        await server.close()

    dispatcher = Dispatcher(sessions, bot, per_chat_interval=0.0, idle_seconds=0.02)
    assert await dispatcher.dispatch_once() == 0  # held for the minute to undo
    fixed_clock.set(utcnow() + timedelta(seconds=61))
    assert await dispatcher.dispatch_once() == 2

    (french,) = await emulator.messages(CHATS["fr"])
    assert "Bonjour Sofia, votre projet « Un potager rue Haute »" in french["text"]
    assert f"({seeded['fr']}) est retenu." in french["text"]
    (dutch,) = await emulator.messages(CHATS["nl"])
    assert "Dag Jan, je project ‘Een samentuin’" in dutch["text"]
    assert f"({seeded['nl']}) is gekozen." in dutch["text"]
    assert await emulator.messages(CHATS["en"]) == []
