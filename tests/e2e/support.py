"""Helpers shared by the end-to-end tests: the emulator's token, citizens who talk to the
bot through the emulator, the walks through the intake, and what the database holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator.client import EmulatorClient
from bot.runners.benchmarks.load import WALKS as INPUTS
from bot.runners.benchmarks.load import last_answer_button
from storage.database import create_engine, create_sessionmaker
from storage.models import InboxUpdate, Proposal

TOKEN = "424242:E2E-token-for-the-local-emulator"
BOT_ID = int(TOKEN.split(":")[0])


class Citizen:
    def __init__(self, client: EmulatorClient, user_id: int, language_code: str) -> None:
        self.client, self.user_id, self.language_code = client, user_id, language_code

    async def say(self, text: str, timeout: float = 10) -> str:  # noqa: ASYNC109
        await self.client.send_text(self.user_id, text, language_code=self.language_code)
        return await self._reply(timeout)

    async def press(self, label: str | int) -> str:
        await self.client.press_button(
            self.user_id, self.user_id, label, language_code=self.language_code
        )
        return await self._reply(10)

    async def press_last(self) -> str:
        """The last answer: "mine is different", "let the staff decide", "submit"."""
        return await self.press(last_answer_button(await self.client.messages(self.user_id)))

    async def _reply(self, timeout: float) -> str:  # noqa: ASYNC109
        events = await self.client.wait_for_reply(self.user_id, timeout=timeout)
        return "\n".join(str(e.get("text") or "") for e in events)


WALKS: dict[str, dict[str, Any]] = {
    # what the citizen types (the same walk as `intake bench load`), and what the test expects
    language: {**INPUTS[language], **expected}
    for language, expected in {
        "fr": {
            "step": "Étape 1 sur 11",
            "theme": "compost",
            "commune": "21015",
            "cents": 250000,
        },
        "nl": {
            "step": "Stap 1 van 11",
            "theme": "food",
            "commune": "21013",
            "cents": 350050,
        },
        "en": {
            "step": "Step 1 of 11",
            "theme": "zero_waste",
            "commune": "21009",
            "cents": 250000,
        },
    }.items()
}


class Talker(Protocol):
    """A citizen as `walk` needs one: `Citizen`, or `PatientCitizen`."""

    async def say(self, text: str, timeout: float = ...) -> str: ...  # noqa: ASYNC109

    async def press(self, label: str | int) -> str: ...

    async def press_last(self) -> str: ...


async def walk(citizen: Talker, data: dict[str, Any]) -> str:
    await citizen.say("/start", timeout=30)  # the first answer waits for the process to start
    assert data["step"] in await citizen.press(1)
    await citizen.say(data["title"])
    await citizen.say(data["description"])
    await citizen.say(data["where"])
    if data["where"] == "ixelle":  # a typo: the bot asks to confirm
        await citizen.press(1)
    await citizen.press(3)  # carried by an association
    await citizen.press(4)  # partner: a school (toggle, edited in place)
    await citizen.press(8)  # done
    # themes: the ones the description suggests are ticked already
    reply = await citizen.press(14)  # done
    if data["similar"] in reply:  # similar initiatives were found
        await citizen.press_last()  # mine is different
    await citizen.say(data["budget"])
    await citizen.press_last()  # let the staff choose the call
    await citizen.say(data["name"])
    await citizen.say(data["contact"])
    await citizen.press(1)  # may be contacted: yes
    review = await citizen.press(2)  # share with coaches: no
    assert data["title"] in review
    return await citizen.press_last()  # submit


class PatientCitizen:
    """Sends an input, then waits until the bot has applied and answered it."""

    def __init__(
        self,
        client: EmulatorClient,
        sessions: async_sessionmaker[AsyncSession],
        user_id: int,
        language_code: str,
    ) -> None:
        self.client, self.sessions = client, sessions
        self.user_id, self.language_code = user_id, language_code

    async def say(self, text: str, timeout: float = 120) -> str:  # noqa: ASYNC109
        """`timeout`: ignored, the citizen waits for as long as `settled` does."""
        return await self._settled(
            lambda: self.client.send_text(self.user_id, text, language_code=self.language_code)
        )

    async def press(self, label: str | int) -> str:
        return await self._settled(
            lambda: self.client.press_button(
                self.user_id, self.user_id, label, language_code=self.language_code
            )
        )

    async def press_last(self) -> str:
        return await self.press(last_answer_button(await self.client.messages(self.user_id)))

    async def _settled(self, send: Callable[[], Awaitable[int]]) -> str:
        return await self.settled(await send())

    async def settled(self, update_id: int) -> str:
        """Wait until the update is done (applied and answered; the database may be down
        meanwhile); the bot's newest message in the chat."""
        async with asyncio.timeout(120):
            while True:
                try:
                    async with self.sessions() as session:
                        row = await session.get(InboxUpdate, (BOT_ID, update_id))
                    if row is not None and row.status == "done":
                        break
                except OSError:  # the database is down: the bot waits for it too
                    pass
                await asyncio.sleep(0.1)
        messages = await self.client.messages(self.user_id)
        return str(messages[-1].get("text") or "")


async def stored_proposals(database: str) -> list[Proposal]:
    engine = create_engine(database)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(Proposal).order_by(Proposal.id))).scalars())
    finally:
        await engine.dispose()
