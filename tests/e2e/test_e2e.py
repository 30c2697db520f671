"""End to end: the real `intake run` process against the local Bot API emulator over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.emulator.client import EmulatorClient
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation, ProposalMatch
from tests.e2e.support import TOKEN, WALKS, Citizen, stored_proposals, walk
from tests.processes import IntakeProcess, intake_env, process_reference, run_intake

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "e2e-webhook-secret"


class WebhookReceiver:
    """The external back-office: keeps the pushes whose X-Signature is right."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Signature", ""), "sha256=" + digest):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.pushes.append(json.loads(body))
        self.arrived.set()
        return web.Response(status=204)

    async def wait_for(self, event: str, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                for push in self.pushes:
                    if push["event"] == event:
                        return push
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/push", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield receiver, f"http://{host}:{port}/push"
    await runner.cleanup()


@pytest.fixture
async def bot(
    emulator: str, database: str, tmp_path: Path, webhook: tuple[WebhookReceiver, str]
) -> AsyncIterator[IntakeProcess]:
    env = intake_env(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator,
        DATABASE_URL=database,
        WEB_PORT="0",
        BACKOFFICE_WEBHOOK_URL=webhook[1],
        BACKOFFICE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    process = IntakeProcess(env, tmp_path)
    process.start()
    yield process
    # The emulator runs on this event loop: wait in a thread so it keeps answering.
    code = await asyncio.to_thread(process.stop)
    assert code == 0, f"the bot exited with {code}:\n{process.log()}"
    assert "Traceback" not in process.log(), process.log()


async def test_one_proposal_in_each_language(
    bot: IntakeProcess, emulator: str, database: str
) -> None:
    async with EmulatorClient(emulator) as client:
        done = [
            await walk(Citizen(client, 7000 + number, language), data)
            for number, (language, data) in enumerate(WALKS.items(), start=1)
        ]
        commands = await client.commands()
    assert {c["language_code"] for c in commands} >= {"fr", "nl", "en"}
    # the same process serves the back-office
    address = re.search(r"Back-office: (http://\S+)", bot.log())
    assert address, bot.log()
    async with aiohttp.ClientSession() as web, web.get(address.group(1) + "healthz") as health:
        assert health.status == 200 and (await health.json()) == {"status": "ok"}
    proposals = await stored_proposals(database)
    assert [p.language for p in proposals] == list(WALKS)
    assert [p.id for p in proposals] == [1, 2, 3]
    for proposal, (language, data), thanks in zip(proposals, WALKS.items(), done, strict=True):
        assert proposal.reference == process_reference(proposal)
        assert proposal.reference in thanks
        assert proposal.status == "submitted"
        assert proposal.title == data["title"]
        assert proposal.description == data["description"]
        assert proposal.commune_refnis == data["commune"]
        assert proposal.region_wide is False
        assert proposal.carrier == "association"
        assert proposal.partners == ["school"]
        assert data["theme"] in proposal.themes
        assert proposal.budget_cents == data["cents"]
        assert proposal.call_id is None
        assert proposal.contact_name == data["name"]
        if "@" in data["contact"]:
            assert (proposal.contact_email, proposal.contact_phone) == (data["contact"], None)
        else:
            assert (proposal.contact_email, proposal.contact_phone) == (None, "+32470123456")
        assert proposal.consent_contact is True
        assert proposal.consent_share is False
        assert proposal.citizen_id is not None, language
    # the French compost proposal met the starter catalogue's compost initiatives
    engine = create_engine(database)
    async with create_sessionmaker(engine)() as session:
        matches = (
            (
                await session.execute(
                    select(ProposalMatch).where(ProposalMatch.proposal_id == proposals[0].id)
                )
            )
            .scalars()
            .all()
        )
    await engine.dispose()
    assert matches and any("compost" in ",".join(m.reasons) for m in matches)


async def test_conversation_survives_sigkill(
    bot: IntakeProcess, emulator: str, database: str
) -> None:
    data = WALKS["fr"]
    async with EmulatorClient(emulator) as client:
        citizen = Citizen(client, 7100, "fr")
        await citizen.say("/start", timeout=30)
        await citizen.press(1)
        await citizen.say(data["title"])
        await citizen.say(data["description"])
        await citizen.say(data["where"])
        bot.kill()
        bot.start()
        # The new process continues at the same step, with the same draft.
        reply = await citizen.press(3)
        assert "Étape 5 sur 11" in reply, reply
        await citizen.press(8)
        reply = await citizen.press(14)
        if data["similar"] in reply:
            await citizen.press_last()
        bot.kill()
        bot.start()
        await citizen.say("1500", timeout=30)
        await citizen.press_last()
        await citizen.press(1)  # skip the name
        await citizen.press(1)  # skip the contact
        review = await citizen.press(2)  # no contact given: no question about sharing it
        assert data["title"] in review
        done = await citizen.press_last()
    [proposal] = await stored_proposals(database)
    assert proposal.id == 1 and process_reference(proposal) in done
    assert proposal.title == data["title"]
    assert proposal.commune_refnis == data["commune"]
    assert proposal.budget_cents == 150000
    assert "compost" in proposal.themes
    engine = create_engine(database)
    async with create_sessionmaker(engine)() as session:
        conversation = await session.get(Conversation, 7100)
        assert conversation is not None and conversation.step == "done"
    await engine.dispose()


async def test_a_refused_token_stops_with_one_sentence(emulator: str, tmp_path: Path) -> None:
    env = intake_env(
        TELEGRAM_TOKEN="999:WRONG-token-the-emulator-refuses",
        TELEGRAM_API_URL=emulator,
        WEB_PORT="0",
    )
    code, _out, err = await run_intake(env, tmp_path, "run")
    assert code == 2
    assert "Telegram refused TELEGRAM_TOKEN" in err


async def back_office_with_reviewer(bot: IntakeProcess, workdir: Path, language: str) -> str:
    """Add the reviewer account used below (`intake staff add`, password on stdin) and
    return the root address the running process printed for its back-office (waiting for
    it: the process has migrated the database by then)."""
    async with asyncio.timeout(30):
        while not (address := re.search(r"Back-office: (http://\S+)/", bot.log())):  # noqa: ASYNC110 - polling a log file
            await asyncio.sleep(0.1)
    code, _out, err = await run_intake(
        bot.env,
        workdir,
        "staff",
        "add",
        "staff@example.brussels",
        "--role",
        "reviewer",
        "--language",
        language,
        stdin=b"a long enough passphrase\n",
    )
    assert code == 0, err
    return address.group(1)


async def test_a_staff_answer_reaches_the_citizen(
    bot: IntakeProcess,
    emulator: str,
    database: str,
    tmp_path: Path,
    webhook: tuple[WebhookReceiver, str],
) -> None:
    """Citizen on Telegram → back-office review → outbox → dispatcher → citizen, in Dutch;
    the external back-office receives the proposal and the decision, signed."""
    async with EmulatorClient(emulator) as client:
        citizen = Citizen(client, 7200, "nl")
        done = await walk(citizen, WALKS["nl"])
        reference = re.search(r"BXL-\d{4}-\d{5}", done).group(0)  # type: ignore[union-attr]
        root = await back_office_with_reviewer(bot, tmp_path, "nl")
        token = re.compile(r'name="csrf_token" value="([^"]+)"')
        # the session cookie is set by 127.0.0.1: aiohttp keeps IP cookies only when told
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
            async with web.get(f"{root}/login") as page:
                csrf = token.search(await page.text()).group(1)  # type: ignore[union-attr]
            login = {
                "email": "staff@example.brussels",
                "password": "a long enough passphrase",
                "csrf_token": csrf,
            }
            async with web.post(f"{root}/login", data=login) as signed_in:
                assert signed_in.status == 200
            async with web.get(f"{root}/proposals/{reference}") as page:
                csrf = token.search(await page.text()).group(1)  # type: ignore[union-attr]
            decision = {
                "csrf_token": csrf,
                "status": "accepted",
                "answer": "Proficiat, we nemen contact met je op.",
            }
            async with web.post(f"{root}/proposals/{reference}/review", data=decision) as saved:
                assert saved.status == 200
        events = await client.wait_for_reply(7200, timeout=20)
    text = "\n".join(str(e.get("text")) for e in events)
    assert reference in text and "aanvaard" in text and "Proficiat" in text
    receiver = webhook[0]
    submitted = await receiver.wait_for("proposal.submitted")
    assert submitted["proposal"]["reference"] == reference
    decided = await receiver.wait_for("proposal.status_changed")
    assert decided["change"]["to"] == "accepted" and decided["proposal"]["reference"] == reference
    assert receiver.bad_signatures == 0


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
async def test_staff_review_in_a_browser(
    bot: IntakeProcess, emulator: str, database: str, tmp_path: Path
) -> None:
    """Headless Chromium: sign in, filter, open the proposal, accept it with an answer; the
    citizen receives the answer in French through the emulator."""
    from playwright.async_api import async_playwright

    async with EmulatorClient(emulator) as client:
        done = await walk(Citizen(client, 7300, "fr"), WALKS["fr"])
        reference = re.search(r"BXL-\d{4}-\d{5}", done).group(0)  # type: ignore[union-attr]
        root = await back_office_with_reviewer(bot, tmp_path, "fr")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            page = await browser.new_page()
            await page.goto(f"{root}/proposals")
            assert "/login" in page.url
            await page.fill("input[name=email]", "staff@example.brussels")
            await page.fill("input[name=password]", "a long enough passphrase")
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{root}/proposals")
            await page.select_option("select[name=theme]", "compost")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_load_state()
            await page.get_by_role("link", name=reference, exact=True).click()
            # The page keeps the list's filter, for its previous/next links.
            await page.wait_for_url(
                re.compile(rf"/proposals/{reference}\?.*theme=compost.*in=list")
            )
            await page.select_option("select#status", "accepted")
            await page.fill("textarea#answer", "Bravo, votre projet est retenu !")
            await page.click("form.review button[type=submit]")
            await page.wait_for_url(f"{root}/proposals/{reference}?reviewed=1#review")
            assert "Bravo, votre projet est retenu" in await page.content()
            await page.screenshot(path=str(tmp_path / "proposal.png"), full_page=True)
            await browser.close()
        events = await client.wait_for_reply(7300, timeout=20)
    text = "\n".join(str(e.get("text")) for e in events)
    assert reference in text and "acceptée" in text and "Bravo" in text


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
async def test_the_preview_page_in_a_browser(
    bot: IntakeProcess, database: str, tmp_path: Path
) -> None:
    """Headless Chromium: a reviewer tries the bot in English from the preview page; what
    they send is stored as a test conversation, apart from real citizens."""
    from playwright.async_api import async_playwright

    root = await back_office_with_reviewer(bot, tmp_path, "en")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = await browser.new_page()
        await page.goto(f"{root}/preview")
        await page.fill("input[name=email]", "staff@example.brussels")
        await page.fill("input[name=password]", "a long enough passphrase")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{root}/preview")
        await page.select_option("select#preview-language", "en")
        await page.click("text=Switch")
        await page.wait_for_url(f"{root}/preview?language=en")
        await page.fill("input#preview-text", "/start")
        await page.click("form.composer button[type=submit]")
        await page.wait_for_selector("li.bubble.bot")
        await page.click("li.bubble.bot button")  # the welcome's only button
        await page.wait_for_selector("text=Step 1 of 11")
        await page.fill("input#preview-text", "A shared vegetable garden")
        await page.click("form.composer button[type=submit]")
        await page.wait_for_selector("text=Step 2 of 11")
        await page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
        await browser.close()
    engine = create_engine(database)
    try:
        async with create_sessionmaker(engine)() as session:
            drafts = [
                c.draft.get("title")
                for c in (await session.execute(select(Conversation))).scalars()
            ]
    finally:
        await engine.dispose()
    assert drafts == ["A shared vegetable garden"]
