"""Helpers shared by the back-office tests: the session secret, CSRF tokens, signing in."""

from __future__ import annotations

import re

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

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
