from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.emulator.server import start_emulator
from bot.flows.runner import Runner
from bot.services.matcher import Matcher
from bot.telegram.application import TelegramBot, build_bot
from storage.clock import use_clock
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker, migrate
from tests.clock import MovingClock
from tests.fakes import FakeChat, FakeTelegram
from tests.postgres import find_bindir, postgres_server

_database_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[MovingClock]:
    """Every test starts on the same date (`tests.clock.TEST_NOW`), whatever today is."""
    clock = MovingClock()
    with use_clock(clock):
        yield clock


@pytest.fixture(scope="session")
def postgres_root_url() -> Iterator[str]:
    if find_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing on CI: .ci/run must install them")
        pytest.skip("PostgreSQL binaries not found; storage tests ran on SQLite only")
    with postgres_server() as url:
        yield url


async def _fresh_postgres_database(root_url: str) -> str:
    name = f"intake_{next(_database_numbers)}"
    dsn = root_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return root_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A migrated database on SQLite, then on PostgreSQL (storage tests run on both)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/intake.db"
    else:
        url = await _fresh_postgres_database(request.getfixturevalue("postgres_root_url"))
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture
async def postgres_url(postgres_root_url: str) -> str:
    """A fresh, migrated database on the session's PostgreSQL server."""
    url = await _fresh_postgres_database(postgres_root_url)
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture
async def pg_or_sqlite(any_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on SQLite, then on PostgreSQL."""
    engine = create_engine(any_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/intake.db"
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def runner(engine: AsyncEngine) -> Runner:
    store = ConversationStore(create_sessionmaker(engine))
    return Runner(store, Matcher(), default_language="fr", reference_prefix="BXL")


@pytest.fixture
async def telegram() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def telegram_bot(runner: Runner, telegram: FakeTelegram) -> TelegramBot:
    return build_bot(
        "123456:TEST-token-for-flow-tests-only",
        "http://telegram.invalid/bot",
        runner,
        "fr",
        request=telegram,
        get_updates_request=FakeTelegram(),
    )


@pytest.fixture
async def app(telegram_bot: TelegramBot) -> AsyncIterator[Any]:
    async with telegram_bot.application as application:
        yield application


@pytest.fixture
def make_chat(app: Any, telegram_bot: TelegramBot, telegram: FakeTelegram) -> Any:
    """Citizens whose updates go through the inbox, as in production: stored, then applied."""
    user_ids = itertools.count(5001)

    def make(language_code: str | None = "fr", user_id: int | None = None) -> FakeChat:
        return FakeChat(telegram_bot.worker, telegram, user_id or next(user_ids), language_code)

    return make


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A local Bot API emulator that accepts the test module's `TOKEN`; its base URL."""
    runner, url = await start_emulator(token=request.module.TOKEN)
    try:
        yield url
    finally:
        await runner.cleanup()


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A fresh SQLite database for a process started by an end-to-end test."""
    return f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
