"""The inbox worker: updates stored before they are applied, each applied once, a chat's in
order and the chats side by side, failures retried, the citizen told, in their language."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.inbox
from bot.telegram.application import TelegramBot
from bot.telegram.bot_api import bot_id
from bot.text.i18n import Translator
from storage.database import create_sessionmaker
from storage.inbox import KEEP_DONE, MAX_ATTEMPTS, IncomingUpdate, store_updates
from storage.models import Conversation, InboxUpdate, Proposal
from storage.outbox import backoff_delay
from tests.clock import MovingClock
from tests.fakes import FakeChat, FakeTelegram

KEPT = (
    "Sorry, I could not handle your message straight away. It is kept, and I will answer it "
    "as soon as I can."
)
PARKED = (
    "Sorry, I could not handle your message, even after several tries. The team has been "
    "told. Your draft is safe: please send your message again later."
)


@pytest.fixture(autouse=True)
def minute_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed update waits a minute, doubling, without jitter: full jitter under a second
    can be a few milliseconds, and on a busy machine (the suite on parallel workers) the drain
    that failed took the update again before the test looked (seen in make test)."""

    def no_jitter(attempts: int, retry_after: float | None = None, **_ignored: Any) -> float:
        return backoff_delay(attempts, retry_after, base=60.0, cap=3600.0, rand=lambda: 1.0)

    monkeypatch.setattr(storage.inbox, "backoff_delay", no_jitter)


async def rows(engine: AsyncEngine) -> dict[int, InboxUpdate]:
    async with create_sessionmaker(engine)() as session:
        found = (await session.execute(select(InboxUpdate))).scalars()
        return {row.update_id: row for row in found}


async def step_of(engine: AsyncEngine, chat_id: int) -> str | None:
    async with create_sessionmaker(engine)() as session:
        conversation = await session.get(Conversation, chat_id)
        return None if conversation is None else conversation.step


async def test_an_update_is_stored_then_applied_and_its_text_forgotten(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat: FakeChat = make_chat("fr")
    update = chat.update({"message": chat.message(text="/start")})
    assert await chat.worker.receive([update]) == 1
    stored = (await rows(engine))[update["update_id"]]
    assert stored.status == "pending" and stored.payload is not None
    assert chat.telegram.sent(chat.user_id) == []  # stored is not yet applied
    assert await chat.worker.drain() == 1
    finished = (await rows(engine))[update["update_id"]]
    assert finished.status == "done" and finished.payload is None and finished.result is None
    assert chat.telegram.sent(chat.user_id)


async def test_a_redelivered_update_is_neither_stored_nor_answered_twice(
    make_chat: Any,
) -> None:
    chat: FakeChat = make_chat("fr")
    update = chat.update({"message": chat.message(text="/start")})
    await chat.worker.receive([update])
    await chat.worker.drain()
    sent = len(chat.telegram.sent(chat.user_id))
    assert await chat.worker.receive([update]) == 0
    assert await chat.worker.drain() == 0
    assert len(chat.telegram.sent(chat.user_id)) == sent


async def test_updates_that_arrive_out_of_order_are_applied_in_order(
    make_chat: Any, engine: AsyncEngine
) -> None:
    """The title's update overtook the welcome's button press (two webhook deliveries)."""
    chat: FakeChat = make_chat("en")
    await chat.send("/start")
    welcome = chat.last_with_buttons()
    press = chat.update(chat.press_payload(welcome, chat.buttons(welcome)[0][1]))
    title = chat.update({"message": chat.message(text="A repair café in Ixelles")})
    await chat.worker.receive([title])
    await chat.worker.receive([press])
    await chat.worker.drain()
    assert await step_of(engine, chat.user_id) == "description"


async def test_an_update_older_than_one_already_applied_is_still_applied(
    make_chat: Any, engine: AsyncEngine
) -> None:
    """The conversation no longer drops an update whose id is below the last one applied."""
    chat: FakeChat = make_chat("en")
    late = chat.update({"message": chat.message(text="/start")})
    await chat.send("/help")  # a later update id, applied first
    await chat.worker.receive([late])
    await chat.worker.drain()
    assert await step_of(engine, chat.user_id) == "welcome"


async def test_an_answer_lost_after_the_change_was_applied_is_sent_without_applying_again(
    make_chat: Any, engine: AsyncEngine, telegram: FakeTelegram, fixed_clock: MovingClock
) -> None:
    """Telegram failed (or the process died) after the conversation changed: the retry sends
    the kept answer and does not submit twice."""
    chat: FakeChat = make_chat("en")
    from tests.flows.test_commands import to_review

    await to_review(chat)
    review = chat.last_with_buttons()
    submit = next(data for label, data in chat.buttons(review) if "Submit" in label)
    telegram.fail_next("sendMessage")
    await chat.press_data(review, submit)
    async with create_sessionmaker(engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Proposal))).scalar() == 1
    assert "BXL-2026-00001" not in chat.last_text()
    fixed_clock.set(fixed_clock() + timedelta(minutes=5))
    assert await chat.worker.drain() == 1
    assert "BXL-2026-00001" in chat.last_text()
    async with create_sessionmaker(engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Proposal))).scalar() == 1


async def test_a_failure_is_retried_and_the_citizen_told_in_the_language_of_the_chat(
    make_chat: Any,
    runner: Any,
    engine: AsyncEngine,
    fixed_clock: MovingClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The chat speaks Dutch though the citizen's Telegram is in French; the database is
    down: the notice cannot ask it, the inbox kept the language."""
    chat: FakeChat = make_chat("fr")
    await chat.send("/language")
    await chat.press("Nederlands")
    handle = runner.handle

    async def database_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("the database is gone")

    monkeypatch.setattr(runner, "handle", database_down)
    with caplog.at_level(logging.ERROR):
        update_id = await chat.send("Een samentuin in de wijk")
    assert chat.last_text() == Translator("nl").gettext(KEPT)
    assert f"update {update_id}" in caplog.text and "the database is gone" in caplog.text
    row = (await rows(engine))[update_id]
    assert row.status == "pending" and row.attempts == 1 and "ConnectionRefused" in row.last_error

    assert await chat.worker.drain() == 0  # not before its backoff
    monkeypatch.setattr(runner, "handle", handle)
    fixed_clock.set(fixed_clock() + timedelta(minutes=5))
    assert await chat.worker.drain() == 1
    assert "Een samentuin" not in chat.last_text() and (await rows(engine))[update_id].done_at


async def test_after_the_last_attempt_the_update_is_parked_and_the_chat_goes_on(
    make_chat: Any,
    runner: Any,
    engine: AsyncEngine,
    fixed_clock: MovingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat: FakeChat = make_chat("en")
    await chat.send("/start")
    run = runner._run

    async def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "_run", bug)
    poison = await chat.send("the poison")
    for _ in range(MAX_ATTEMPTS - 1):
        fixed_clock.set(fixed_clock() + timedelta(hours=1))
        assert await chat.worker.drain() == 1
    texts = [m["text"] for m in chat.telegram.sent(chat.user_id)]
    assert texts.count(KEPT) == 1 and texts[-1] == PARKED
    parked = (await rows(engine))[poison]
    assert parked.status == "parked" and parked.payload is not None
    monkeypatch.setattr(runner, "_run", run)
    later = await chat.send("/help")
    assert (await rows(engine))[later].status == "done" and chat.last_text() != PARKED


async def test_chats_run_side_by_side_and_each_chats_updates_in_order(
    telegram_bot: TelegramBot, app: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow chat holds up nobody else; a chat's own updates wait for each other."""
    journal: list[tuple[str, int, str]] = []
    slow_chat = 7001

    async def recorded(sender: Any, inp: Any, update: Any = None) -> Any:
        journal.append(("start", sender.chat_id, inp.text))
        await asyncio.sleep(0.3 if sender.chat_id == slow_chat else 0.01)
        journal.append(("end", sender.chat_id, inp.text))
        from bot.flows.runner import Result

        return Result()

    monkeypatch.setattr(runner, "handle", recorded)
    slow = FakeChat(telegram_bot.worker, FakeTelegram(), slow_chat, "en")
    quick = FakeChat(telegram_bot.worker, FakeTelegram(), 7002, "en")
    updates = [
        slow.update({"message": slow.message(text="slow 1")}),
        slow.update({"message": slow.message(text="slow 2")}),
        quick.update({"message": quick.message(text="quick 1")}),
        quick.update({"message": quick.message(text="quick 2")}),
    ]
    await telegram_bot.worker.receive(updates)
    stop = asyncio.Event()
    running = asyncio.create_task(telegram_bot.worker.run(stop))
    for _ in range(200):
        if len(journal) == 8:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await running
    order = [(kind, text) for kind, _chat, text in journal]
    assert order.index(("end", "quick 2")) < order.index(("end", "slow 1"))
    assert order.index(("end", "slow 1")) < order.index(("start", "slow 2"))
    assert order.index(("end", "quick 1")) < order.index(("start", "quick 2"))


async def test_stopping_finishes_the_updates_in_hand(
    telegram_bot: TelegramBot, app: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished: list[str] = []

    async def slow(sender: Any, inp: Any, update: Any = None) -> Any:
        await asyncio.sleep(0.2)
        finished.append(inp.text)
        from bot.flows.runner import Result

        return Result()

    monkeypatch.setattr(runner, "handle", slow)
    chat = FakeChat(telegram_bot.worker, FakeTelegram(), 7003, "en")
    await telegram_bot.worker.receive([chat.update({"message": chat.message(text="hello")})])
    stop = asyncio.Event()
    running = asyncio.create_task(telegram_bot.worker.run(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await running
    assert finished == ["hello"]


async def test_the_worker_forgets_updates_done_long_ago(
    make_chat: Any, telegram_bot: TelegramBot, engine: AsyncEngine, fixed_clock: MovingClock
) -> None:
    chat: FakeChat = make_chat("en")
    await chat.send("/help")
    assert len(await rows(engine)) == 1
    fixed_clock.set(fixed_clock() + KEEP_DONE + timedelta(hours=1))
    stop = asyncio.Event()
    running = asyncio.create_task(telegram_bot.worker.run(stop))
    await asyncio.sleep(0.2)
    stop.set()
    await running
    assert await rows(engine) == {}


async def test_a_stored_update_nobody_can_read_is_retried_then_parked_not_stuck(
    make_chat: Any, telegram_bot: TelegramBot, engine: AsyncEngine, fixed_clock: MovingClock
) -> None:
    """Its chat is not known: it holds up nobody, and ends on staff's /inbox."""
    async with create_sessionmaker(engine).begin() as session:
        await store_updates(
            session,
            bot_id(telegram_bot.application.bot),
            [IncomingUpdate(99, None, {"update_id": 99, "message": {"chat": "unreadable"}})],
        )
    for _ in range(MAX_ATTEMPTS):
        assert await telegram_bot.worker.drain() == 1
        fixed_clock.set(fixed_clock() + timedelta(hours=1))
    parked = (await rows(engine))[99]
    assert parked.status == "parked" and parked.attempts == MAX_ATTEMPTS
    assert parked.last_error


async def test_the_application_keeps_no_id_of_the_chats_it_served(make_chat: Any, app: Any) -> None:
    """python-telegram-bot collects chat and user ids for a persistence, which only a
    persistence empties; this bot has none (its memory must not grow with its citizens)."""
    for _ in range(3):
        await make_chat("fr").send("/help")
    assert app.persistence is None
    assert not app._chat_ids_to_be_updated_in_persistence
    assert not app._user_ids_to_be_updated_in_persistence
