"""Helpers shared by the back-office tests: the session secret, CSRF tokens, signing in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app

SECRET = b"0123456789abcdef0123456789abcdef"

OUR_SCRIPT = '<script src="/static/shortcuts.js" defer></script>'
"""The one script of every page (keyboard shortcuts, a static file): any other is injected."""

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf_of(client: TestClient[object, object], path: str = "/login") -> str:
    response = await client.get(path)
    match = CSRF_RE.search(await response.text())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def login(
    client: TestClient[object, object], email: str, password: str, *, next_path: str = ""
) -> ClientResponse:
    token = await csrf_of(client)
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
        allow_redirects=False,
    )


async def page(client: TestClient[object, object], path: str, status: int = 200) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, body
    return body


@asynccontextmanager
async def signed_in(
    sessions: async_sessionmaker[AsyncSession], who: tuple[str, str]
) -> AsyncIterator[TestClient[object, object]]:
    """A client of a new back-office on `sessions`, signed in as `who` (e-mail, password);
    the pages come in that staff member's language."""
    app = create_app(sessions, secret_key=SECRET)
    async with TestClient(TestServer(app)) as client:
        assert (await login(client, *who)).status == 303
        yield client


async def sign_in(page: Page, root: str, who: tuple[str, str]) -> None:
    """Sign in in a browser tab, from the sign-in page to the queue."""
    await page.goto(f"{root}/login")
    await page.fill("#email", who[0])
    await page.fill("#password", who[1])
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{root}/")
