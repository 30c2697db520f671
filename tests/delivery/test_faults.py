"""Delivery under faults: the outbox dispatcher against the Bot API emulator's fault injection.

Issue 5, "Tests": 1 000 messages through random 429 / 500 / timeouts are each delivered once
and never sooner than `retry_after` allows; a dispatcher process killed with SIGKILL mid-batch
and restarted delivers everything once; two dispatchers on one PostgreSQL database never send
the same row. The drain time of the 1 000-message run is printed (not asserted).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.request import HTTPXRequest

import storage.outbox
from bot.delivery.dispatcher import Dispatcher
from bot.emulator.client import EmulatorClient
from storage.clock import utcnow
from storage.database import create_engine, create_sessionmaker, migrate
from storage.models import OutboxMessage
from storage.outbox import enqueue, outbox_stats
from tests.processes import IntakeProcess, intake_env

TOKEN = "555555:DELIVERY-faults-test-token"

Sessions = async_sessionmaker[AsyncSession]
JSON = dict[str, Any]


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator) as the_client:
        yield the_client


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns (an error here) when it builds a RetryAfter without PTB_TIMEDELTA=1."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def texts(count: int, chats: int, first_chat: int) -> list[tuple[int, str]]:
    """`count` distinct messages spread round-robin over `chats` chats: (chat_id, text)."""
    return [
        (first_chat + index % chats, f"<b>Alert</b> {index:04d} &amp; co") for index in range(count)
    ]


async def queue_all(sessions: Sessions, messages: list[tuple[int, str]]) -> None:
    async with sessions.begin() as session:
        for chat_id, text in messages:
            assert await enqueue(
                session,
                kind="telegram",
                chat_id=chat_id,
                payload={"text": text},
                dedupe_key=f"delivery:{text}",
            )


async def drained(sessions: Sessions) -> bool:
    async with sessions() as session:
        stats = await outbox_stats(session)
    return stats["pending"] == 0 and stats["sending"] == 0


async def statuses(sessions: Sessions) -> Counter[str]:
    async with sessions() as session:
        result = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return Counter({status: int(count) for status, count in result})


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109
    what: str,
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110 - polling the database and the emulator
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


def delivered_texts(attempts: list[JSON]) -> Counter[str]:
    return Counter(a["text"] for a in attempts if a["outcome"] == "ok")


def too_early_retries(attempts: list[JSON]) -> list[str]:
    """Attempts to a chat that came sooner than a 429 told: one line per violation.

    Causal order on the emulator's clock: after a 429 answered at `t` with `retry_after` r,
    the next request to that chat must arrive at `t + r` or later.
    """
    by_chat: dict[int, list[JSON]] = defaultdict(list)
    for attempt in attempts:
        by_chat[attempt["chat_id"]].append(attempt)
    problems = []
    for chat_id, chat_attempts in by_chat.items():
        chat_attempts.sort(key=lambda a: a["received_at"])
        for index, refused in enumerate(chat_attempts):
            if refused.get("error_code") != 429:
                continue
            allowed = refused["answered_at"] + refused["retry_after"]
            for later in chat_attempts[index + 1 :]:
                if later["received_at"] < allowed:
                    early = allowed - later["received_at"]
                    problems.append(f"chat {chat_id}: {later['text']!r} {early:.3f} s too early")
    return problems


class TimedBot(Bot):
    """Records in `latencies` how long each accepted sendMessage took, as the client saw it."""

    def __init__(self, *args: Any, latencies: list[float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._latencies = latencies  # PTB objects are frozen, except for _attributes

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        message = await super().send_message(*args, **kwargs)
        self._latencies.append(time.monotonic() - started)
        return message


@pytest.mark.slow
async def test_a_thousand_messages_through_random_faults_are_delivered_exactly_once(
    engine: AsyncEngine,
    emulator: str,
    client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """10 % of the calls get 429 (retry_after 1 s), 5 % get 500, 3 % time out.

    A timeout here is a request lost before Telegram processed it: the emulator keeps it
    unanswered until the client gives up, and delivers nothing. (A timeout *after* Telegram
    delivered would be a legitimate duplicate under at-least-once delivery, see
    `bot.delivery.dispatcher`.) So the client's read timeout (2 s) must stay far above the real
    answer time: the global rate (200/s) is kept near what the emulator, sharing this event
    loop, can serve, and the slowest accepted send is printed next to the drain time.

    Backoff is shortened and MAX_ATTEMPTS raised so that the drain takes seconds, and so that
    no message goes dead by bad luck (18 % failures, 8 attempts: about one run in a thousand
    would put a message in the dead-letter state, which is the design, not a delivery bug).
    """
    monkeypatch.setattr(storage.outbox, "BACKOFF_BASE_SECONDS", 0.05)
    monkeypatch.setattr(storage.outbox, "MAX_ATTEMPTS", 40)
    sessions = create_sessionmaker(engine)
    messages = texts(1000, chats=100, first_chat=10_001)
    await queue_all(sessions, messages)
    await client.random_faults(
        too_many_requests=0.10, server_error=0.05, timeout=0.03, retry_after=1, seed=20260
    )

    request = HTTPXRequest(read_timeout=2.0, connection_pool_size=512, pool_timeout=5.0)
    latencies: list[float] = []
    async with TimedBot(TOKEN, base_url=emulator, request=request, latencies=latencies) as bot:
        dispatcher = Dispatcher(
            sessions, bot, batch=500, per_chat_interval=0.02, global_rate=200.0, idle_seconds=0.02
        )
        stop = asyncio.Event()
        started = time.monotonic()
        running = asyncio.create_task(dispatcher.run(stop))
        try:
            await eventually(lambda: drained(sessions), 120, "the outbox drains")
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
        elapsed = time.monotonic() - started

    attempts = await client.attempts(method="sendMessage")
    outcomes = Counter(
        str(a["error_code"]) if a["outcome"] == "error" else a["outcome"] for a in attempts
    )
    with capsys.disabled():
        print(
            f"\n[delivery] 1000 messages to 100 chats drained in {elapsed:.1f} s "
            f"({len(attempts)} attempts: {dict(sorted(outcomes.items()))}; "
            f"slowest accepted send {max(latencies):.2f} s)"
        )

    assert await statuses(sessions) == {"sent": 1000}
    expected = Counter(text for _, text in messages)
    assert delivered_texts(attempts) == expected  # every message, exactly once
    sends = [e for e in await client.events() if e["kind"] == "send"]
    assert Counter(e["text"] for e in sends) == expected
    assert {(e["chat_id"], e["text"]) for e in sends} == set(messages)
    # The faults did happen (about 120, 60 and 36 are expected).
    assert outcomes["429"] >= 40 and outcomes["500"] >= 15 and outcomes["timeout"] >= 8
    assert not set(outcomes) - {"ok", "429", "500", "timeout"}
    assert too_early_retries(attempts) == []
    # Each chat got its messages in the order they were queued, retries included.
    accepted = sorted((a for a in attempts if a["outcome"] == "ok"), key=lambda a: a["received_at"])
    for chat_id in {chat for chat, _ in messages}:
        queued = [text for chat, text in messages if chat == chat_id]
        assert [a["text"] for a in accepted if a["chat_id"] == chat_id] == queued


# ---- a dispatcher process killed mid-batch ---------------------------------------------------


def dispatch_env(emulator: str, database: str) -> dict[str, str]:
    return intake_env(TELEGRAM_TOKEN=TOKEN, TELEGRAM_API_URL=emulator, DATABASE_URL=database)


async def while_running(
    process: IntakeProcess,
    check: Callable[[], Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109
    what: str,
) -> None:
    async def alive_and_check() -> bool:
        assert process.alive(), f"{process.name} exited early:\n{process.log()}"
        return await check()

    await eventually(alive_and_check, timeout, what)


async def count_sent(sessions: Sessions) -> int:
    return (await statuses(sessions))["sent"]


@pytest.mark.slow
async def test_a_dispatcher_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    emulator: str, client: EmulatorClient, tmp_path: Path
) -> None:
    """SIGKILL `intake dispatch` while a batch is in flight, restart it: all delivered, once.

    The kill happens while the emulator *holds* the batch's remaining requests (the "hold"
    fault): some of the batch's messages are delivered and recorded as sent, the others sit
    in the emulator unprocessed. When the process dies its connections close, the emulator
    drops the held requests (outcome ``abandoned``) and the rows stay ``sending`` until their
    lease runs out; the restarted dispatcher sends them then.

    The residual window: Telegram has accepted a message (answered 200) but the dispatcher
    dies before committing ``sent``. That row is sent again after its lease: a duplicate, the
    price of at-least-once delivery (Telegram's sendMessage has no idempotency key, so the send
    and the commit cannot be atomic; see `bot.delivery.dispatcher`). The window is a few
    milliseconds per message, but a kill at a random moment of a busy batch would land in it now
    and then, and this test would then fail for a reason the design accepts. So the test closes the
    window before killing: it waits until every message the emulator delivered is committed
    as sent and only held (unprocessed) requests are in flight, then kills.

    The dispatcher's lease is 60 s; instead of waiting it out, the test moves the leases of
    the killed process's rows into the past (what a minute's wait would do).
    """
    database = f"sqlite+aiosqlite:///{tmp_path}/dispatch.db"
    await asyncio.to_thread(migrate, database)
    engine = create_engine(database)
    sessions = create_sessionmaker(engine)
    try:
        messages = texts(200, chats=100, first_chat=20_001)
        await queue_all(sessions, messages)
        env = dispatch_env(emulator, database)
        first = IntakeProcess(env, tmp_path, "dispatch", "first")
        first.start()
        try:

            async def some_delivered() -> bool:
                return len(await client.attempts(method="sendMessage")) >= 30

            await while_running(first, some_delivered, 60, "the first messages are delivered")
            await client.hold(60)  # longer than the client's 5 s read timeout

            async def only_held_requests_in_flight() -> bool:
                delivered = delivered_texts(await client.attempts(method="sendMessage"))
                held = await client.in_flight()
                return bool(held) and await count_sent(sessions) == sum(delivered.values())

            await while_running(
                first, only_held_requests_in_flight, 30, "requests are held, the rest committed"
            )
            before_kill = await client.attempts(method="sendMessage")
            held = {a["text"] for a in await client.in_flight()}
            first.kill()
        finally:
            if first.alive():
                first.kill()

        async def emulator_saw_the_disconnects() -> bool:
            return not await client.in_flight()

        await eventually(emulator_saw_the_disconnects, 10, "the held requests are dropped")
        after_kill = await client.attempts(method="sendMessage", after=before_kill[-1]["seq"])
        # Nothing was delivered after the snapshot: every later request was held, then dropped
        # (the dispatcher may have sent one more, held too, between the snapshot and the kill).
        assert {a["outcome"] for a in after_kill} == {"abandoned"}
        assert held <= {a["text"] for a in after_kill}
        delivered_before = delivered_texts(before_kill)
        assert 30 <= sum(delivered_before.values()) < len(messages)
        async with sessions() as session:
            in_batch = (
                await session.execute(
                    select(func.count()).where(OutboxMessage.status == storage.outbox.SENDING)
                )
            ).scalar_one()
        assert len(held) <= in_batch <= 20  # the killed batch: held requests and untried rows

        # Let the dead dispatcher's leases run out, lift the hold, restart.
        async with sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == storage.outbox.SENDING)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        await client.release_hold()
        second = IntakeProcess(env, tmp_path, "dispatch", "second")
        second.start()
        try:

            async def all_sent() -> bool:
                return await count_sent(sessions) == len(messages)

            await while_running(second, all_sent, 60, "the restarted dispatcher drains")
        finally:
            code = await asyncio.to_thread(second.stop)
        assert code == 0, f"the dispatcher exited with {code}:\n{second.log()}"
        assert "Traceback" not in second.log(), second.log()

        attempts = await client.attempts(method="sendMessage")
        assert delivered_texts(attempts) == Counter(text for _, text in messages)
        sends = [e for e in await client.events() if e["kind"] == "send"]
        assert sorted(e["text"] for e in sends) == sorted(text for _, text in messages)
        async with sessions() as session:
            rows = {
                row.payload["text"]: row
                for row in (await session.execute(select(OutboxMessage))).scalars()
            }
        assert {row.status for row in rows.values()} == {"sent"}
        # The held messages were claimed by both processes and delivered by the second.
        assert all(rows[text].attempts >= 2 for text in held)
    finally:
        await engine.dispose()


# ---- two dispatchers on one PostgreSQL database ----------------------------------------------


async def fresh_postgres_database(root_url: str) -> str:
    import asyncpg

    name = f"delivery_{os.getpid()}_{time.monotonic_ns()}"
    connection = await asyncpg.connect(root_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return root_url.rsplit("/", 1)[0] + "/" + name


class RecordingBot(Bot):
    """Appends to `accepted` the texts it got accepted."""

    def __init__(self, *args: Any, accepted: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accepted = accepted

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        message = await super().send_message(*args, **kwargs)
        self._accepted.append(kwargs["text"])
        return message


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_dispatchers_on_one_postgresql_database_never_send_a_row_twice(
    postgres_root_url: str, emulator: str, client: EmulatorClient
) -> None:
    """Two dispatchers, each with its own engine (its own connections, like two processes),
    drain 500 messages together: all sent, none twice, and both did part of the work."""
    url = await fresh_postgres_database(postgres_root_url)
    await asyncio.to_thread(migrate, url)
    engines = [create_engine(url), create_engine(url)]
    try:
        sessions = [create_sessionmaker(engine) for engine in engines]
        messages = texts(500, chats=100, first_chat=30_001)
        await queue_all(sessions[0], messages)
        by_one: list[str] = []
        by_two: list[str] = []
        async with (
            RecordingBot(TOKEN, base_url=emulator, accepted=by_one) as one,
            RecordingBot(TOKEN, base_url=emulator, accepted=by_two) as two,
        ):
            dispatchers = [
                Dispatcher(
                    maker,
                    bot,
                    batch=20,
                    per_chat_interval=0.01,
                    global_rate=1000.0,
                    idle_seconds=0.02,
                )
                for maker, bot in zip(sessions, (one, two), strict=True)
            ]
            stop = asyncio.Event()
            running = [asyncio.create_task(d.run(stop)) for d in dispatchers]
            try:
                await eventually(lambda: drained(sessions[1]), 60, "the outbox drains")
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*running), 10)

        expected = Counter(text for _, text in messages)
        assert delivered_texts(await client.attempts(method="sendMessage")) == expected
        assert Counter(by_one) + Counter(by_two) == expected  # none twice
        assert by_one and by_two, (len(by_one), len(by_two))  # both did some of the work
        async with sessions[0]() as session:
            rows = list((await session.execute(select(OutboxMessage))).scalars())
        assert {row.status for row in rows} == {"sent"}
        assert {row.attempts for row in rows} == {1}  # no row was ever claimed twice
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_dispatchers_keep_each_chats_pace_and_order(
    postgres_root_url: str, emulator: str, client: EmulatorClient
) -> None:
    """The per-chat pace and order hold across dispatchers: a chat is served by one of them
    at a time, and not again sooner than the interval after its last message was sent
    (storage.outbox.claim_due). Checked from the emulator's arrival times."""
    url = await fresh_postgres_database(postgres_root_url)
    await asyncio.to_thread(migrate, url)
    engines = [create_engine(url), create_engine(url)]
    interval = 0.25
    try:
        sessions = [create_sessionmaker(engine) for engine in engines]
        messages = texts(18, chats=3, first_chat=35_001)
        await queue_all(sessions[0], messages)
        async with Bot(TOKEN, base_url=emulator) as one, Bot(TOKEN, base_url=emulator) as two:
            dispatchers = [
                Dispatcher(
                    maker,
                    bot,
                    batch=1,  # one row per claim: both dispatchers keep asking for work
                    per_chat_interval=interval,
                    global_rate=1000.0,
                    idle_seconds=0.02,
                )
                for maker, bot in zip(sessions, (one, two), strict=True)
            ]
            stop = asyncio.Event()
            running = [asyncio.create_task(d.run(stop)) for d in dispatchers]
            try:
                await eventually(lambda: drained(sessions[1]), 60, "the outbox drains")
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*running), 10)

        attempts = [a for a in await client.attempts(method="sendMessage") if a["outcome"] == "ok"]
        for chat_id in {chat for chat, _ in messages}:
            sent = sorted((a for a in attempts if a["chat_id"] == chat_id), key=lambda a: a["seq"])
            assert [a["text"] for a in sent] == [t for c, t in messages if c == chat_id]  # order
            arrivals = [a["received_at"] for a in sent]
            gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
            assert min(gaps) >= interval - 0.01, (chat_id, gaps)  # the pace, across both
    finally:
        for engine in engines:
            await engine.dispose()


# ---- one busy chat must not hold up the others -----------------------------------------------


@pytest.mark.parametrize("cause", ["per-chat pace", "flood control"])
async def test_a_chat_that_must_wait_does_not_hold_up_the_other_chats(
    engine: AsyncEngine, emulator: str, client: EmulatorClient, cause: str
) -> None:
    """A burst to one chat (the staff group gets 10 notifications) and one message to another
    chat (a coach's alert), queued after the burst.

    Telegram allows about one message per second per chat, so the burst takes ~10 s; the
    coach's alert should not wait for it ("the coach should know within a minute"; the Pacer's
    docstring: "A chat that must wait long (pace, or a 429) does not hold up the others").
    `Dispatcher.run` sends to chats concurrently and claims again while a chat waits; the
    waiting chat's rows are not claimed until its slot comes (so they also keep their order).
    """
    sessions = create_sessionmaker(engine)
    group, coach = 40_001, 40_002
    burst = [(group, f"staff notification {index}") for index in range(10)]
    await queue_all(sessions, [*burst, (coach, "coach alert")])
    if cause == "per-chat pace":
        options: dict[str, Any] = {"batch": 5, "per_chat_interval": 0.5}
    else:
        await client.inject_fault(429, chat_id=group, retry_after=3)
        options = {"batch": 2, "per_chat_interval": 0.0}
    async with Bot(TOKEN, base_url=emulator) as bot:
        dispatcher = Dispatcher(sessions, bot, global_rate=1000.0, idle_seconds=0.02, **options)
        stop = asyncio.Event()
        running = asyncio.create_task(dispatcher.run(stop))
        try:
            await eventually(lambda: drained(sessions), 30, "the outbox drains")
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)

    attempts = await client.attempts(method="sendMessage")
    assert delivered_texts(attempts) == Counter([*(text for _, text in burst), "coach alert"])
    (alert,) = [a for a in attempts if a["chat_id"] == coach]
    group_sends = sorted(
        a["received_at"] for a in attempts if a["chat_id"] == group and a["outcome"] == "ok"
    )
    if cause == "per-chat pace":
        # The group's third message cannot go before 2 × 0.5 s; the alert needs no wait.
        assert alert["received_at"] < group_sends[2]
    else:
        (refused,) = [a for a in attempts if a.get("error_code") == 429]
        assert alert["received_at"] < refused["answered_at"] + refused["retry_after"]
