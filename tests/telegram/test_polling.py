"""Long polling: updates are fetched as JSON and stored before the next offset confirms
them, so one update python-telegram-bot cannot read holds up nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.emulator.client import EmulatorClient
from bot.flows.runner import Runner
from bot.telegram.application import build_bot, serving
from bot.telegram.inbox import chat_of
from storage.database import create_sessionmaker
from storage.models import InboxUpdate

TOKEN = "777002:POLLING-test-token-for-the-emulator"


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator.removesuffix("/bot")) as client:
        yield client


@pytest.mark.parametrize(
    ("update", "chat"),
    [
        ({"update_id": 1, "message": {"chat": {"id": 5}}}, 5),
        ({"update_id": 1, "edited_message": {"chat": {"id": -100}}}, -100),
        ({"update_id": 1, "callback_query": {"id": "q", "message": {"chat": {"id": 6}}}}, 6),
        ({"update_id": 1, "callback_query": {"id": "q", "inline_message_id": "m"}}, None),
        ({"update_id": 1, "message": {"chat": "unreadable"}}, None),
        ({"update_id": 1, "message": {"chat": {"id": "5"}}}, None),
        ({"update_id": 1, "poll": {"id": "p"}}, None),
    ],
)
def test_the_chat_of_an_update_is_read_from_its_json(update: dict[str, Any], chat: int) -> None:
    assert chat_of(update) == chat


async def test_an_unreadable_update_is_stored_and_the_next_ones_answered(
    runner: Runner, emulator: str, client: EmulatorClient, engine: AsyncEngine
) -> None:
    bot = build_bot(TOKEN, emulator, runner, "fr")
    async with serving(bot):
        unreadable = await client.send_raw({"message": {"chat": "unreadable"}})
        readable = await client.send_text(5001, "/start")
        reply = await client.wait_for_reply(5001)
    assert "Bruxelles" in reply[0]["text"], reply
    async with create_sessionmaker(engine)() as session:
        stored = {
            row.update_id: row for row in (await session.execute(select(InboxUpdate))).scalars()
        }
    assert stored[readable].status == "done"
    assert stored[unreadable].attempts >= 1 and stored[unreadable].last_error
    assert stored[unreadable].status in ("pending", "parked")
