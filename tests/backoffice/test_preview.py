"""The back-office's /preview page: staff chat with the preview bot through the emulator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.backoffice.pages.preview import preview_user_id, telegram_html
from bot.runners.process import preview_bot
from bot.runners.settings import load_settings
from storage.database import create_sessionmaker
from storage.models import Conversation
from storage.staff import add_staff

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STAFF = ("preview@example.brussels", "a long enough passphrase")
PRESS_RE = re.compile(
    r'name="message_id" value="(\d+)">\s*<input type="hidden" name="data" value="([^"]+)">'
    r"\s*<button[^>]*>([^<]+)</button>"
)


@pytest.fixture
async def client(engine: AsyncEngine, database_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        await add_staff(session, STAFF[0], hash_password(STAFF[1]), "reviewer", "en")
    settings = load_settings(database_url=database_url, default_language="fr")
    async with preview_bot(settings, sessions) as preview_url:
        app = create_app(sessions, secret_key=b"p" * 32, preview_url=preview_url)
        async with TestClient(TestServer(app)) as the_client:
            token = CSRF_RE.search(await (await the_client.get("/login")).text())
            assert token is not None
            response = await the_client.post(
                "/login",
                data={"email": STAFF[0], "password": STAFF[1], "csrf_token": token.group(1)},
                allow_redirects=False,
            )
            assert response.status == 303
            yield the_client


async def send(client: TestClient[Any, Any], page: str, language: str, text: str) -> str:
    token = CSRF_RE.search(page)
    assert token is not None
    response = await client.post(
        "/preview/send", data={"csrf_token": token.group(1), "language": language, "text": text}
    )
    assert response.status == 200 and response.url.path == "/preview"
    return await response.text()


async def press(client: TestClient[Any, Any], page: str, language: str, label: str) -> str:
    token = CSRF_RE.search(page)
    assert token is not None
    for message_id, data, text in PRESS_RE.findall(page):
        if label in unescape(text):
            response = await client.post(
                "/preview/press",
                data={
                    "csrf_token": token.group(1),
                    "language": language,
                    "message_id": message_id,
                    "data": unescape(data),
                },
            )
            assert response.status == 200
            return await response.text()
    raise LookupError(f"no button {label!r}")


async def test_staff_chat_with_the_bot_in_dutch_and_it_is_a_test_chat(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    page = await (await client.get("/preview?language=nl")).text()
    assert "/preview/send" in page and '<li class="bubble' not in page

    page = await send(client, page, "nl", "/start")
    assert 'class="bubble me"' in page and "/start" in page
    assert "Start mijn voorstel" in page  # the bot answers in the language chosen for the preview
    page = await press(client, page, "nl", "")  # the welcome's only button
    assert "Stap 1 van 11" in page
    page = await send(client, page, "nl", "Een moestuin in het Josaphatpark")
    assert "Stap 2 van 11" in page

    # The French preview is another chat: it starts empty.
    other = await (await client.get("/preview?language=fr")).text()
    assert '<li class="bubble' not in other

    async with create_sessionmaker(engine)() as session:
        stored = await session.get(Conversation, preview_user_id(1, "nl"))
        assert stored is not None and stored.draft["title"] == "Een moestuin in het Josaphatpark"
        assert (await session.execute(select(Conversation))).scalars().all() == [stored]


async def test_a_message_without_the_csrf_token_is_refused(client: TestClient[Any, Any]) -> None:
    response = await client.post("/preview/send", data={"language": "fr", "text": "/start"})
    assert response.status == 403


def test_telegram_entities_become_safe_html() -> None:
    text = "Étape 1 💬 <b>gras</b> lien"
    entities = [
        {"type": "bold", "offset": 0, "length": 7},
        {"type": "text_link", "offset": 23, "length": 4, "url": "https://example.org/?a=1&b=2"},
        {"type": "text_link", "offset": 15, "length": 4, "url": "javascript:alert(1)"},
    ]
    html = str(telegram_html(text, entities))
    assert html.startswith("<b>Étape 1</b> 💬 ")
    assert "&lt;b&gt;gras&lt;/b&gt; " in html  # the text itself is never taken as markup
    assert '<a href="https://example.org/?a=1&amp;b=2" rel="noopener noreferrer">lien</a>' in html
    assert "javascript" not in html


async def test_a_button_of_a_message_that_is_not_there_is_refused(
    client: TestClient[Any, Any],
) -> None:
    page = await (await client.get("/preview?language=en")).text()
    token = CSRF_RE.search(page)
    assert token is not None
    for message_id in ("999", "not-a-number"):
        response = await client.post(
            "/preview/press",
            data={
                "csrf_token": token.group(1),
                "language": "en",
                "message_id": message_id,
                "data": "welcome:start:v1",
            },
        )
        assert response.status == 400
        assert "This button is not valid." in await response.text()
