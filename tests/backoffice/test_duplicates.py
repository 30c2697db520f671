"""The "Duplicate" section of a proposal's page (issue 14 §6): marking from a similar
proposal or a typed reference, both pages linking each other, the refusals in the staff
member's language, unmarking, the open list, the citizen's request to join shown on the
original. Then the same in headless Chromium, as staff use it."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.services.duplicates import mark_as_duplicate
from storage.database import create_sessionmaker
from storage.duplicates import request_join
from storage.models import OutboxMessage, Proposal
from storage.proposals import NewMatch
from storage.staff import add_staff
from tests.backoffice.support import SECRET, csrf_of, page, sign_in, signed_in
from tests.backoffice.test_accessibility import AXE, DESKTOP, PHONE, SIDEWAYS, violations
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
ANNA = ("anna@example.brussels", "anna passphrase long enough")  # speaks Dutch
SAM = ("sam@example.brussels", "sam passphrase long enough")  # speaks English
CITIZEN = 9101
"""The Telegram id of the citizen of the duplicate."""


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def refs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """An original, a later proposal found similar to it (the duplicate to be), another."""
    async with sessions() as session, session.begin():
        await add_staff(session, ANNA[0], hash_password(ANNA[1]), "reviewer", "nl")
        await add_staff(session, SAM[0], hash_password(SAM[1]), "reviewer", "en")
        original = await make_proposal(
            session, title="Un potager au parc Josaphat", contact_name="Marie Dupont"
        )
        citizen = await make_citizen(session, CITIZEN, "nl")
        duplicate = await make_proposal(
            session,
            citizen,
            language="nl",
            title="Moestuin in het Josaphatpark",
            matches=[NewMatch(0.9, ["shared_concepts:potager"], other_proposal_id=original.id)],
        )
        other = await make_proposal(session, title="Des bancs sur la place")
        return {
            "original": original.reference,
            "duplicate": duplicate.reference,
            "other": other.reference,
        }


@pytest.fixture
async def anna(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ANNA) as client:
        yield client


@pytest.fixture
async def sam(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, SAM) as client:
        yield client


async def post(client: Client, path: str, **fields: str) -> str:
    """Send a form of the proposal page `path`; the redirect's location."""
    token = await csrf_of(client, path)
    response = await client.post(
        path + "/duplicate" + fields.pop("_action", ""),
        data={"csrf_token": token, **fields},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_marking_from_a_similar_proposal_links_both_pages(
    sam: Client, refs: dict[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    original, duplicate = refs["original"], refs["duplicate"]
    body = await page(sam, f"/proposals/{duplicate}")
    assert 'id="duplicate"' in body and '<label for="duplicate-reference">' in body
    assert f'name="choice" value="{original}"' in body  # the similar proposal, one click
    assert body.index('id="duplicate"') < body.index('id="matches"')

    location = await post(sam, f"/proposals/{duplicate}", choice=original)
    assert location == f"/proposals/{duplicate}?duplicate=marked#duplicate"
    body = await page(sam, location.split("#")[0])
    assert "Marked as a duplicate. The citizen is told on Telegram" in body
    assert re.search(rf'Duplicate of <a href="/proposals/{original}"[^>]*>{original}</a>', body)
    assert "Not a duplicate" in body and 'name="reference"' not in body
    assert "<strong>Marked as a duplicate of another proposal</strong>" in body  # history

    body = await page(sam, f"/proposals/{original}")
    assert "Duplicates of this proposal:" in body
    assert f'<a href="/proposals/{duplicate}" class="ref">{duplicate}</a>' in body
    assert "<strong>Another proposal was marked as a duplicate of this one</strong>" in body
    assert 'name="reference"' not in body  # an original is not marked in turn

    async with sessions() as session:
        [message] = (await session.execute(select(OutboxMessage))).scalars()
    assert message.chat_id == CITIZEN and original in message.payload["text"]
    assert "Marie" not in message.payload["text"]


async def test_the_list_leaves_a_duplicate_out_until_it_is_unmarked(
    sam: Client, refs: dict[str, str]
) -> None:
    original, duplicate = refs["original"], refs["duplicate"]
    await post(sam, f"/proposals/{duplicate}", reference=f" {original.lower()} ")
    assert duplicate not in await page(sam, "/proposals")
    assert duplicate not in await page(sam, "/")  # my queue
    everything = await page(sam, "/proposals?status=all")
    row = everything[everything.index(f">{duplicate}</a>") :]
    assert row[: row.index("</td>")].endswith('<span class="tag">duplicate</span>')

    location = await post(sam, f"/proposals/{duplicate}", _action="/unmark")
    assert location == f"/proposals/{duplicate}?duplicate=unmarked#duplicate"
    body = await page(sam, location.split("#")[0])
    assert "No longer marked as a duplicate: the proposal is back with the open ones." in body
    assert "<strong>No longer marked as a duplicate</strong>" in body
    assert 'name="reference"' in body
    assert duplicate in await page(sam, "/proposals")
    body = await page(sam, f"/proposals/{original}")
    assert "Duplicates of this proposal:" not in body
    assert "A proposal is no longer marked as a duplicate of this one" in body


async def error_of(client: Client, path: str, **fields: str) -> str:
    location = await post(client, path, **fields)
    assert location.endswith("#duplicate")
    body = await page(client, location.split("#")[0])
    match = re.search(r'<p class="alert" role="alert" id="duplicate-error">([^<]*)</p>', body)
    assert match, body
    return match.group(1)


async def test_refusals_are_said_in_the_staff_members_language(
    anna: Client, sam: Client, refs: dict[str, str]
) -> None:
    original, duplicate, other = refs["original"], refs["duplicate"], refs["other"]
    assert await error_of(anna, f"/proposals/{duplicate}", reference="BXL-1999-00001") == (
        "Er is geen voorstel met referentie “BXL-1999-00001”."
    )
    assert await error_of(sam, f"/proposals/{duplicate}", reference="") == (
        "Type the reference of the original proposal, or choose a similar proposal."
    )
    assert await error_of(sam, f"/proposals/{duplicate}", reference=duplicate) == (
        "A proposal cannot be a duplicate of itself."
    )
    await post(sam, f"/proposals/{duplicate}", reference=original)
    # The original of an original: the message names the one to choose.
    assert await error_of(anna, f"/proposals/{other}", reference=duplicate) == (
        f"Dat voorstel is zelf een duplicaat van {original}: markeer dit voorstel in de plaats "
        f"als duplicaat van {original}."
    )
    assert await error_of(sam, f"/proposals/{original}", reference=other) == (
        f"Other proposals are marked as duplicates of this one ({duplicate}): it cannot "
        "become a duplicate itself. Unmark them first."
    )
    body = await page(sam, f"/proposals/{other}?duplicate=unknown&other=<b>x</b>")
    assert "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x</b>" not in body  # escaped


async def test_a_request_to_join_shows_on_both_pages(
    sam: Client, refs: dict[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    original, duplicate = refs["original"], refs["duplicate"]
    await post(sam, f"/proposals/{duplicate}", reference=original)
    async with sessions() as session, session.begin():
        rows = await session.execute(select(Proposal.reference, Proposal.id))
        ids = {reference: proposal_id for reference, proposal_id in rows}
        joined = await request_join(session, CITIZEN, ids[duplicate], ids[original])
        assert joined.outcome == "requested"
    body = await page(sam, f"/proposals/{original}")
    assert "its citizen asked to join this proposal on" in body
    assert "<strong>The citizen of a duplicate asked to join this proposal</strong>" in body
    assert "check on each proposal that its citizen agreed to share" in body
    body = await page(sam, f"/proposals/{duplicate}")
    assert 'id="duplicate-asked"' in body and "The citizen asked to join it on" in body


# ------------------------------------------------------------------ in a browser


@pytest.mark.slow
async def test_staff_mark_a_duplicate_in_a_browser(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    original, duplicate = refs["original"], refs["duplicate"]
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    server = TestServer(app)
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        page_ = await browser.new_page()
        await sign_in(page_, root, SAM)
        await page_.goto(f"{root}/proposals/{duplicate}")

        section = page_.locator("section#duplicate")
        # A reference that does not exist: said, and nothing changes.
        await section.get_by_label("Reference of the original proposal").fill("BXL-1999-1")
        await section.get_by_role("button", name="Mark as a duplicate").click()
        await page_.wait_for_url(re.compile(r"duplicate=unknown"))
        assert "BXL-1999-1" in await page_.locator("#duplicate-error").inner_text()

        # The similar proposal, in one click.
        await section.get_by_role("button", name=f"Duplicate of {original}").click()
        await page_.wait_for_url(re.compile(r"duplicate=marked"))
        assert await page_.locator("#duplicate-done").is_visible()
        await page_.locator("#duplicate-of").get_by_role("link", name=original).click()
        await page_.wait_for_url(f"{root}/proposals/{original}")
        await page_.locator("#duplicates").get_by_role("link", name=duplicate).click()
        await page_.wait_for_url(f"{root}/proposals/{duplicate}")
        assert await page_.get_by_role("button", name="Not a duplicate").is_visible()
        await page_.close()
    finally:
        await server.close()
    async with sessions() as session:
        [message] = (await session.execute(select(OutboxMessage))).scalars()
    assert message.chat_id == CITIZEN
    assert original in message.payload["text"] and "Josaphatpark" in message.payload["text"]
    assert message.payload["buttons"][0][0]["callback_data"].startswith("dupjoin:")


@pytest.fixture
def axe_source() -> str:
    """axe-core, as test_accessibility.py reads it."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing on CI: .ci/run must run `npm ci`")
        pytest.skip(f"{AXE} is missing: run `npm ci` at the repository's root")
    return AXE.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("language", ["fr", "nl"])
async def test_every_state_of_the_section_passes_axe_on_a_desktop_and_a_phone(
    browser: Browser,
    axe_source: str,
    sessions: async_sessionmaker[AsyncSession],
    refs: dict[str, str],
    language: str,
) -> None:
    """The states the router's scan (test_accessibility.py) does not reach: a duplicate
    whose citizen asked to join, its original, the quick choices with a refusal shown."""
    original, duplicate, other = refs["original"], refs["duplicate"], refs["other"]
    async with sessions() as session, session.begin():
        rows = await session.execute(select(Proposal).order_by(Proposal.id))
        by_reference = {p.reference: p for p in rows.scalars()}
        with_choices = await make_proposal(
            session,
            title="Un potager partagé",
            matches=[
                NewMatch(0.8, ["shared_concepts:potager"], other_proposal_id=p.id)
                for p in by_reference.values()
            ],
        )
        await mark_as_duplicate(session, by_reference[duplicate], original, actor=SAM[0])
        await request_join(session, CITIZEN, by_reference[duplicate].id, by_reference[original].id)
        await add_staff(session, "admin@example.brussels", hash_password(SAM[1]), "admin", language)
    paths = [
        f"/proposals/{original}",
        f"/proposals/{duplicate}?duplicate=marked",
        f"/proposals/{with_choices.reference}?duplicate=original_is_duplicate&other={original}",
        f"/proposals/{other}?duplicate=unknown&other=BXL-1999-00001",
    ]
    app = create_app(sessions, secret_key=SECRET, default_language=language)
    server = TestServer(app)
    await server.start_server()
    found: list[str] = []
    try:
        root = str(server.make_url("")).rstrip("/")
        for size, viewport in (("desktop", DESKTOP), ("375px", PHONE)):
            context = await browser.new_context(viewport=viewport, locale=f"{language}-BE")
            await context.add_init_script(script=axe_source)
            page_ = await context.new_page()
            await page_.goto(f"{root}/login")
            await page_.fill("#email", "admin@example.brussels")
            await page_.fill("#password", SAM[1])
            await page_.click("form[action='/login'] button[type=submit]")
            await page_.wait_for_url(f"{root}/")
            for path in paths:
                await page_.goto(root + path)
                assert await page_.locator("section#duplicate").count() == 1, path
                found += [f"[{size}] {path}: {line}" for line in await violations(page_)]
                if await page_.evaluate(SIDEWAYS):
                    found.append(f"[{size}] {path}: the page scrolls sideways")
            await context.close()
    finally:
        await server.close()
    assert not found, "\n".join(found)
