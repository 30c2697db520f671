"""The outbox dispatcher against the local Bot API emulator over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

import storage.outbox
from bot.delivery.dispatcher import Dispatcher, Pacer, Webhook, retry_after_seconds, signature
from bot.emulator.client import EmulatorClient
from storage.clock import utcnow
from storage.database import create_sessionmaker
from storage.models import OutboxMessage
from storage.outbox import enqueue, outbox_stats

TOKEN = "777777:DISPATCHER-test-token"

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator) as the_client:
        yield the_client


@pytest.fixture
async def bot(emulator: str) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emulator) as the_bot:
        yield the_bot


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return create_sessionmaker(engine)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in tens of milliseconds, so retries happen within the test.

    PTB_TIMEDELTA=1: PTB 22 otherwise warns (an error here) when it builds a RetryAfter.
    """
    monkeypatch.setattr(storage.outbox, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def fast(sessions: Sessions, bot: Bot, **options: Any) -> Dispatcher:
    settings: dict[str, Any] = {
        "per_chat_interval": 0.0,
        "global_rate": 10_000.0,
        "idle_seconds": 0.02,
    }
    settings.update(options)
    return Dispatcher(sessions, bot, **settings)


async def queue(sessions: Sessions, chat_id: int, text: str, *, kind: str = "telegram") -> None:
    async with sessions.begin() as session:
        assert await enqueue(
            session, kind=kind, chat_id=chat_id, payload={"text": text}, dedupe_key=text
        )


async def rows(sessions: Sessions) -> dict[str, OutboxMessage]:
    async with sessions() as session:
        result = await session.execute(select(OutboxMessage))
        return {row.dedupe_key: row for row in result.scalars()}


async def run_until(
    dispatcher: Dispatcher,
    done: Callable[[], Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109
) -> None:
    """Run the dispatcher loop until `done()` holds, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not await done():  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def all_settled(sessions: Sessions) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with sessions() as session:
            stats = await outbox_stats(session)
        return stats["pending"] == 0 and stats["sending"] == 0

    return check


async def test_thirty_messages_to_three_chats_are_each_delivered_once(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    chats = (101, 102, 103)
    for index in range(30):
        await queue(sessions, chats[index % 3], f"<b>Message</b> {index:02d} &amp; more")
    await run_until(fast(sessions, bot, batch=7), all_settled(sessions))

    for position, chat_id in enumerate(chats):
        events = await client.events(chat_id)
        assert [e["kind"] for e in events] == ["send"] * 10
        expected = [f"<b>Message</b> {i:02d} &amp; more" for i in range(position, 30, 3)]
        assert [e["text"] for e in events] == expected  # once each, in order
        assert {e["parse_mode"] for e in events} == {"HTML"}
    stored = await rows(sessions)
    assert {row.status for row in stored.values()} == {"sent"}
    assert all(row.sent_at is not None and row.attempts == 1 for row in stored.values())
    # Nothing left: another round sends nothing.
    assert await fast(sessions, bot).dispatch_once() == 0
    assert len(await client.events()) == 30


async def test_a_blocked_chat_is_dead_with_the_error_and_others_still_go(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    await client.inject_fault(403, chat_id=201)
    await queue(sessions, 201, "to the blocker")
    await queue(sessions, 202, "to a friend")
    assert await fast(sessions, bot).dispatch_once() == 2

    stored = await rows(sessions)
    blocked = stored["to the blocker"]
    assert blocked.status == "dead"
    assert blocked.attempts == 1
    assert blocked.last_error is not None
    assert "Forbidden" in blocked.last_error and "blocked by the user" in blocked.last_error
    assert stored["to a friend"].status == "sent"
    assert await client.events(201) == []
    assert len(await client.events(202)) == 1


async def test_unknown_kind_and_bad_html_are_dead_at_once(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    await queue(sessions, 301, "carrier pigeon", kind="pigeon")
    await queue(sessions, 302, "<b>unclosed")
    await fast(sessions, bot).dispatch_once()
    stored = await rows(sessions)
    assert stored["carrier pigeon"].status == "dead"
    assert "unknown outbox kind 'pigeon'" in (stored["carrier pigeon"].last_error or "")
    assert stored["<b>unclosed"].status == "dead"
    assert (stored["<b>unclosed"].last_error or "").startswith("BadRequest")
    assert await client.events() == []


async def test_flood_control_is_retried_no_sooner_than_retry_after(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    await client.inject_fault(429, chat_id=401, retry_after=1)
    await queue(sessions, 401, "first")
    await queue(sessions, 401, "second")
    started = time.monotonic()
    await run_until(fast(sessions, bot), all_settled(sessions))
    assert time.monotonic() - started >= 1.0

    events = await client.events(401)
    assert [e["text"] for e in events] == ["first", "second"]  # once each, order kept
    stored = await rows(sessions)
    first = stored["first"]
    assert first.status == "sent" and first.attempts == 2
    assert first.sent_at is not None
    assert first.sent_at - first.created_at >= timedelta(seconds=1)
    # The chat's next message was held back with it, not counted as an attempt.
    assert stored["second"].attempts == 1
    assert stored["second"].sent_at is not None
    assert stored["second"].sent_at - stored["second"].created_at >= timedelta(seconds=1)


async def test_server_errors_are_retried_with_backoff_and_delivered(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    await client.inject_fault(500, chat_id=501, count=2)
    await queue(sessions, 501, "eventually")
    dispatcher = fast(sessions, bot)
    assert await dispatcher.dispatch_once() == 1
    after_first = (await rows(sessions))["eventually"]
    assert after_first.status == "pending"
    assert after_first.next_attempt_at >= after_first.created_at
    assert "Internal Server Error" in (after_first.last_error or "")

    await run_until(dispatcher, all_settled(sessions))
    row = (await rows(sessions))["eventually"]
    assert (row.status, row.attempts) == ("sent", 3)
    assert [e["text"] for e in await client.events(501)] == ["eventually"]


async def test_too_many_failures_end_dead(
    sessions: Sessions, bot: Bot, client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.outbox, "BACKOFF_CAP_SECONDS", 0.05)
    await client.inject_fault(500, chat_id=601, count=100)
    await queue(sessions, 601, "hopeless")
    await run_until(fast(sessions, bot), all_settled(sessions))
    row = (await rows(sessions))["hopeless"]
    assert (row.status, row.attempts) == ("dead", storage.outbox.MAX_ATTEMPTS)
    assert await client.events(601) == []


async def test_per_chat_pace_on_the_wire(sessions: Sessions, emulator: str) -> None:
    """Lower bounds only: two sends to one chat are at least per_chat_interval apart."""
    sent: list[tuple[int, float]] = []

    class RecordingBot(Bot):
        async def send_message(self, *args: Any, **kwargs: Any) -> Any:
            sent.append((kwargs["chat_id"], time.monotonic()))
            return await super().send_message(*args, **kwargs)

    for index in range(3):
        await queue(sessions, 701, f"paced {index}")
    await queue(sessions, 702, "other chat")
    async with RecordingBot(TOKEN, base_url=emulator) as bot:
        await run_until(fast(sessions, bot, per_chat_interval=0.2), all_settled(sessions))
    times = [t for chat, t in sent if chat == 701]
    assert len(times) == 3
    assert all(b - a >= 0.2 - 0.005 for a, b in itertools.pairwise(times))
    # The other chat was not held up behind chat 701.
    other = next(t for chat, t in sent if chat == 702)
    assert other < times[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_pacer_spaces_each_chat_and_the_whole_bot() -> None:
    clock = FakeClock()
    pacer = Pacer(per_chat_interval=1.0, global_rate=10.0, clock=clock, sleep=clock.sleep)
    slots = [await pacer.wait(chat) for chat in (1, 2, 1, 3, 1)]
    assert slots[0] == 0.0
    assert slots[1] == pytest.approx(0.1)  # another chat: only the global spacing
    assert slots[2] >= slots[0] + 1.0  # chat 1 again: its own interval
    assert slots[4] >= slots[2] + 1.0
    assert slots == sorted(slots)
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(slots))

    pacer.defer_chat(2, 30.0)
    before = clock.now
    assert await pacer.wait(4) < before + 1.0  # other chats are not deferred
    assert await pacer.wait(2) >= before + 30.0


async def test_concurrent_waiters_never_share_a_global_slot() -> None:
    # Real sleeps, on a clock that starts at zero: the spacing checks below are exact to a
    # nanosecond, which the monotonic clock's own value (large under a moved clock) is not.
    started = time.monotonic()
    pacer = Pacer(
        per_chat_interval=0.05, global_rate=100.0, clock=lambda: time.monotonic() - started
    )

    async def chat(chat_id: int) -> list[float]:
        return [await pacer.wait(chat_id) for _ in range(3)]

    per_chat = await asyncio.gather(*(chat(c) for c in range(4)))
    slots = sorted(slot for chat_slots in per_chat for slot in chat_slots)
    assert all(b - a >= 0.01 - 1e-9 for a, b in itertools.pairwise(slots))
    for chat_slots in per_chat:
        assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(chat_slots))


async def test_dispatcher_uses_the_injected_clock(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    clock = FakeClock()
    for index in range(3):
        await queue(sessions, 801 + index, f"slow bot {index}")
    dispatcher = Dispatcher(sessions, bot, global_rate=1 / 30, clock=clock, sleep=clock.sleep)
    started = time.monotonic()
    assert await dispatcher.dispatch_once() == 3
    assert time.monotonic() - started < 5  # no real waiting
    assert clock.now >= 60.0  # ... but two 30 s global gaps on the pacer's clock
    assert sum([len(await client.events(801 + index)) for index in range(3)]) == 3


def test_retry_after_in_seconds_from_int_or_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    assert retry_after_seconds(RetryAfter(timedelta(seconds=1.5))) == 1.5  # PTB_TIMEDELTA=1
    monkeypatch.delenv("PTB_TIMEDELTA")
    with pytest.warns(PTBDeprecationWarning):
        legacy = RetryAfter(3)
    assert retry_after_seconds(legacy) == 3.0  # an int, read without a warning


async def test_the_loop_survives_an_unexpected_error(
    sessions: Sessions, bot: Bot, client: EmulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = fast(sessions, bot)
    real = dispatcher._claim
    calls = 0

    async def flaky(limit: int, skip_chats: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return await real(limit, skip_chats)

    dispatcher._claim = flaky  # type: ignore[method-assign]
    await queue(sessions, 901, "still delivered")
    await run_until(dispatcher, all_settled(sessions))
    assert [e["text"] for e in await client.events(901)] == ["still delivered"]
    assert "database went away" in caplog.text


# ---- buttons, edits and the webhook -------------------------------------------------------


async def queue_payload(
    sessions: Sessions, kind: str, chat_id: int | None, payload: dict[str, Any], key: str
) -> int:
    async with sessions.begin() as session:
        assert await enqueue(session, kind=kind, chat_id=chat_id, payload=payload, dedupe_key=key)
        found = await session.execute(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)
        )
        return found.scalar_one()


async def test_buttons_are_sent_and_the_message_id_kept(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    buttons = [
        [{"text": "Take it", "callback_data": "staff:take:7"}],
        [{"text": "Open", "url": "https://example.org/p/7"}],
    ]
    await queue_payload(sessions, "telegram", 401, {"text": "New", "buttons": buttons}, "b")
    await run_until(fast(sessions, bot), all_settled(sessions))

    [message] = await client.messages(401)
    keyboard = message["reply_markup"]["inline_keyboard"]
    assert keyboard[0][0] == {"text": "Take it", "callback_data": "staff:take:7"}
    assert keyboard[1][0]["url"] == "https://example.org/p/7"
    assert (await rows(sessions))["b"].sent_message_id == message["message_id"]


async def test_an_edit_waits_for_its_message_then_edits_it_in_place(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    original = await queue_payload(
        sessions,
        "telegram",
        402,
        {"text": "Alert", "buttons": [[{"text": "Take", "callback_data": "x"}]]},
        "alert",
    )
    # The edit is due first (the original waits for a retry), yet it never overtakes it.
    edit = await queue_payload(
        sessions, "telegram_edit", 402, {"edit_of": original, "text": "Taken by Ana"}, "edit"
    )
    async with sessions.begin() as session:
        row = await session.get(OutboxMessage, original)
        assert row is not None
        row.next_attempt_at = row.next_attempt_at + timedelta(seconds=30)
    dispatcher = fast(sessions, bot)
    assert await dispatcher.dispatch_once() == 0
    stored = await rows(sessions)
    assert stored["edit"].status == "pending" and stored["edit"].attempts == 0
    assert await client.messages(402) == []

    async with sessions.begin() as session:
        for row_id in (original, edit):
            row = await session.get(OutboxMessage, row_id)
            assert row is not None
            row.next_attempt_at = utcnow()
    await run_until(dispatcher, all_settled(sessions))
    [message] = await client.messages(402)
    assert message["plain_text"] == "Taken by Ana"
    assert message["edited"] and message["reply_markup"] is None
    assert {row.status for row in (await rows(sessions)).values()} == {"sent"}


async def test_an_edit_of_a_dead_message_is_dead(
    sessions: Sessions, bot: Bot, client: EmulatorClient
) -> None:
    await client.inject_fault(403, chat_id=403)
    original = await queue_payload(sessions, "telegram", 403, {"text": "Alert"}, "alert")
    assert await fast(sessions, bot).dispatch_once() == 1
    await queue_payload(
        sessions, "telegram_edit", 403, {"edit_of": original, "text": "Taken"}, "edit"
    )
    assert await fast(sessions, bot).dispatch_once() == 1
    edit = (await rows(sessions))["edit"]
    assert edit.status == "dead" and "never sent" in (edit.last_error or "")


class Receiver:
    """A local external back-office: checks each POST's signature, answers as told."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.answers: list[web.Response] = []
        self.received: list[dict[str, Any]] = []
        self.refused_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Signature", ""), expected):
            self.refused_signatures += 1
            return web.Response(status=401)
        if self.answers:
            return self.answers.pop(0)
        self.received.append(
            {
                "event": request.headers["X-Intake-Event"],
                "delivery": request.headers["X-Intake-Delivery"],
                "body": json.loads(body),
            }
        )
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    the_receiver = Receiver("s3cret-webhook")
    app = web.Application()
    app.router.add_post("/hook", the_receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield the_receiver, f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


async def test_the_webhook_is_signed_retried_after_5xx_and_delivered_once(
    sessions: Sessions, bot: Bot, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    hook.answers = [
        web.Response(status=503, headers={"Retry-After": "0"}),
        web.Response(status=500),
    ]
    body = {"reference": "BXL-2026-0001", "title": "Un potager à Forest ✓", "status": "submitted"}
    await queue_payload(
        sessions, "webhook", None, {"event": "proposal.submitted", "body": body}, "wh:1"
    )
    dispatcher = fast(sessions, bot, webhook=Webhook(url, "s3cret-webhook"))
    await run_until(dispatcher, all_settled(sessions))

    assert hook.refused_signatures == 0
    assert hook.received == [{"event": "proposal.submitted", "delivery": "wh:1", "body": body}]
    row = (await rows(sessions))["wh:1"]
    assert row.status == "sent" and row.attempts == 3


async def test_a_wrong_secret_is_refused_by_the_receiver_and_ends_dead(
    sessions: Sessions, bot: Bot, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    await queue_payload(sessions, "webhook", None, {"event": "x", "body": {"a": 1}}, "wh:2")
    dispatcher = fast(sessions, bot, webhook=Webhook(url, "not-the-secret"))
    try:
        assert await dispatcher.dispatch_once() == 1
    finally:
        await dispatcher.close()
    assert hook.refused_signatures == 1 and hook.received == []
    row = (await rows(sessions))["wh:2"]
    assert row.status == "dead" and "401" in (row.last_error or "")


async def test_a_webhook_row_without_a_configured_url_is_dead(sessions: Sessions, bot: Bot) -> None:
    await queue_payload(sessions, "webhook", None, {"event": "x", "body": {}}, "wh:3")
    assert await fast(sessions, bot).dispatch_once() == 1
    assert "BACKOFFICE_WEBHOOK_URL" in ((await rows(sessions))["wh:3"].last_error or "")


def test_signature_is_hex_hmac_sha256_of_the_body() -> None:
    assert (
        signature("key", b"{}") == "sha256=" + hmac.new(b"key", b"{}", hashlib.sha256).hexdigest()
    )


def test_the_bot_of_the_process_keeps_telegram_limits(runner: Any) -> None:
    """Replies and the outbox share one AIORateLimiter: 30/s overall, 20/min per group."""
    from telegram.ext import AIORateLimiter

    from bot.runners.process import telegram_bot
    from bot.runners.settings import load_settings

    bot = telegram_bot(load_settings(), runner, TOKEN, "http://127.0.0.1:9/bot")
    limiter = bot.application.bot.rate_limiter
    assert isinstance(limiter, AIORateLimiter)
    assert limiter._base_limiter.max_rate == 30 and limiter._group_max_rate == 20
    assert limiter._max_retries == 0  # flood errors go back to the outbox's retries
    settings = load_settings(telegram_max_messages_per_second=100)  # a bot with higher limits
    faster = telegram_bot(settings, runner, TOKEN, "http://127.0.0.1:9/bot")
    assert faster.application.bot.rate_limiter._base_limiter.max_rate == 100  # type: ignore[union-attr]
