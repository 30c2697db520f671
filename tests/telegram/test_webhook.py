"""Webhook mode: Telegram (the emulator) posts updates; each is stored in the inbox before
the 200, a request without the secret is refused, duplicates are applied once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.emulator.client import EmulatorClient
from bot.flows.runner import Runner
from bot.telegram.application import TelegramBot, build_bot, serving
from bot.telegram.webhook import SECRET_HEADER, ensure_webhook, webhook_app
from storage.database import create_sessionmaker
from storage.models import InboxUpdate

TOKEN = "777001:WEBHOOK-test-token-for-the-emulator"
SECRET = "the-webhook-secret-of-the-tests"
PATH = "/telegram/webhook"


class Served:
    """The bot in webhook mode on a free port; `hits` counts the requests each site got."""

    def __init__(self, bot: TelegramBot) -> None:
        self.bot = bot
        self.urls: list[str] = []
        self.hits: list[int] = []
        self._runners: list[web.AppRunner] = []

    async def site(self) -> str:
        index = len(self.urls)
        self.hits.append(0)

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.hits[index] += 1
            response: web.StreamResponse = await handler(request)
            return response

        app = webhook_app(f"https://bot.example{PATH}", self.bot.worker, SECRET)
        app.middlewares.append(count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._runners.append(runner)
        self.urls.append(f"http://127.0.0.1:{port}{PATH}")
        return self.urls[-1]

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def served(runner: Runner, emulator: str) -> AsyncIterator[Served]:
    bot = build_bot(TOKEN, emulator, runner, "fr")
    async with serving(bot, poll=False):
        served = Served(bot)
        await served.site()
        try:
            yield served
        finally:
            await served.close()


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator.removesuffix("/bot")) as client:
        yield client


async def stored(engine: AsyncEngine) -> int:
    async with create_sessionmaker(engine)() as session:
        return int((await session.execute(select(func.count(InboxUpdate.update_id)))).scalar_one())


def update(update_id: int, text: str, user_id: int = 4242) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1781510400,
            "chat": {"id": user_id, "type": "private", "first_name": "Lea"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Lea", "language_code": "fr"},
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


async def post(url: str, body: Any, secret: str | None = SECRET) -> int:
    headers = {} if secret is None else {SECRET_HEADER: secret}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status


async def test_the_webhook_is_registered_once_and_updates_come_through_it(
    served: Served, client: EmulatorClient
) -> None:
    bot = served.bot.application.bot
    assert await ensure_webhook(bot, served.urls[0], SECRET, 5)
    assert not await ensure_webhook(bot, served.urls[0], SECRET, 5)  # nothing changed
    assert await ensure_webhook(bot, served.urls[0], SECRET, 6)
    await client.send_text(5001, "/start")
    reply = await client.wait_for_reply(5001)
    assert "Bruxelles" in reply[0]["text"], reply


async def test_a_request_without_the_right_secret_is_refused_and_nothing_stored(
    served: Served, engine: AsyncEngine
) -> None:
    url = served.urls[0]
    assert await post(url, update(1, "/start"), secret=None) == 403
    assert await post(url, update(1, "/start"), secret="the-webhook-secret-of-the-test") == 403
    assert await post(url, update(1, "/start"), secret=SECRET + "x") == 403
    assert await stored(engine) == 0


async def test_a_body_that_is_not_an_update_is_a_bad_request(served: Served) -> None:
    assert await post(served.urls[0], ["not", "an", "update"]) == 400
    assert await post(served.urls[0], {"message": {}}) == 400
    deep = '{"update_id": 1, "message": ' + "[" * 100_000 + "]" * 100_000 + "}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            served.urls[0],
            data=deep,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400


async def test_an_update_python_telegram_bot_cannot_read_is_stored_not_refused(
    served: Served, engine: AsyncEngine
) -> None:
    """Refused, Telegram would deliver it again and again; stored, it is retried and then
    parked where staff see it."""
    assert await post(served.urls[0], {"update_id": 300, "message": {"chat": "unreadable"}}) == 200
    assert await stored(engine) == 1


async def test_duplicate_deliveries_are_stored_and_answered_once(
    served: Served, client: EmulatorClient, engine: AsyncEngine
) -> None:
    assert await post(served.urls[0], update(100, "/start")) == 200
    assert await post(served.urls[0], update(100, "/start")) == 200
    first = await client.wait_for_reply(4242)
    assert await stored(engine) == 1
    assert await post(served.urls[0], update(100, "/start")) == 200
    with pytest.raises(TimeoutError):
        await client.wait_for_reply(4242, timeout=1.0)
    assert first


async def test_an_update_that_could_not_be_stored_gets_503_so_telegram_sends_it_again(
    served: Served, monkeypatch: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    async def database_down(*args: Any) -> int:
        raise ConnectionRefusedError("the database is gone")

    monkeypatch.setattr(served.bot.worker, "receive", database_down)
    assert await post(served.urls[0], update(200, "/start")) == 503


async def test_healthz(served: Served) -> None:
    url = served.urls[0].replace(PATH, "/healthz")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200 and (await response.json()) == {"status": "ok"}


async def test_the_emulator_retries_until_the_bot_answers_2xx(
    served: Served, client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = served.bot.worker
    receive = worker.receive
    refusals = 2

    async def flaky(updates: Any) -> int:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError("the database is restarting")
        return await receive(updates)

    monkeypatch.setattr(worker, "receive", flaky)
    bot = served.bot.application.bot
    await ensure_webhook(bot, served.urls[0], SECRET, 5)
    await client.send_text(5002, "/start")
    assert await client.wait_for_reply(5002)
    info = await bot.get_webhook_info()
    assert info.last_error_message and "503" in info.last_error_message
    assert refusals == 0


async def test_the_emulator_spreads_deliveries_over_several_urls(
    served: Served, client: EmulatorClient
) -> None:
    """Standing in for a load balancer in front of two bot instances."""
    second = await served.site()
    await ensure_webhook(served.bot.application.bot, served.urls[0], SECRET, 10)
    await client.spread_webhook(served.urls)
    for user_id in range(6001, 6007):
        await client.send_text(user_id, "/start")
    await asyncio.gather(*(client.wait_for_reply(u) for u in range(6001, 6007)))
    assert served.hits[0] >= 2 and served.hits[1] >= 2, (served.hits, second)
