"""Updates of different chats run side by side, those of one chat one after the other in
their order of arrival, and a chat's queue never takes the places of other chats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update

from bot.telegram.ordering import PerChatUpdateProcessor

_update_ids = iter(range(1, 1000))


def update(chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    message = Message(1, datetime(2026, 6, 15, tzinfo=UTC), chat, text="hello")
    return Update(next(_update_ids), message=message)


class Journal:
    """What ran when: ("start"|"end", name), in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def work(self, name: str, seconds: float = 0.05) -> None:
        self.events.append(("start", name))
        await asyncio.sleep(seconds)
        self.events.append(("end", name))

    def at(self, kind: str, name: str) -> int:
        return self.events.index((kind, name))


async def run(processor: PerChatUpdateProcessor, journal: Journal, *names: str) -> None:
    """Hand the updates to the processor in this order, as python-telegram-bot does (one
    task each, created in order of arrival); a name is chat letter + number, e.g. "a2"."""
    chats = {"a": 1, "b": 2, "c": 3}
    async with processor:
        await asyncio.gather(
            *(
                processor.process_update(update(chats[name[0]]), journal.work(name))
                for name in names
            )
        )


async def test_a_chats_updates_run_one_after_the_other_in_order() -> None:
    journal = Journal()
    await run(PerChatUpdateProcessor(8), journal, "a1", "a2", "a3")
    assert [name for kind, name in journal.events if kind == "start"] == ["a1", "a2", "a3"]
    assert journal.at("end", "a1") < journal.at("start", "a2")
    assert journal.at("end", "a2") < journal.at("start", "a3")


async def test_different_chats_run_side_by_side() -> None:
    journal = Journal()
    await run(PerChatUpdateProcessor(8), journal, "a1", "b1", "c1")
    first_end = min(journal.at("end", name) for name in ("a1", "b1", "c1"))
    assert all(journal.at("start", name) < first_end for name in ("a1", "b1", "c1"))


async def test_a_busy_chat_leaves_places_for_the_others() -> None:
    """Two places; chat a has three updates waiting. With python-telegram-bot's own bound
    (taken before the chat's turn) a1 and a2 would hold both places and b1 would wait for a1
    and a2; here a2 and a3 wait for their chat without a place, and b1 runs beside a1."""
    journal = Journal()
    await run(PerChatUpdateProcessor(2), journal, "a1", "a2", "a3", "b1")
    assert journal.at("start", "b1") < journal.at("end", "a1")


async def test_the_bound_holds() -> None:
    journal = Journal()
    await run(PerChatUpdateProcessor(1), journal, "a1", "b1", "c1")
    running = 0
    for kind, _name in journal.events:
        running += 1 if kind == "start" else -1
        assert running <= 1


async def test_idle_chats_are_forgotten() -> None:
    processor = PerChatUpdateProcessor(4)
    await run(processor, Journal(), "a1", "a2", "b1")
    assert processor._chats == {}
