from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoffice import auth
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
T = TypeVar("T")


class RememberingHasher(PasswordHasher):
    """The back-office's argon2 hasher, with its parameters, that remembers what it computed.

    argon2 is slow on purpose (a quarter of a second a hash on this machine), and hundreds of
    tests create the same accounts with the same passwords and sign in with them. Hashing
    the same password again gives the hash made the first time (argon2id with the same
    parameters, only its salt shared); verifying the same hash and password again gives the
    result (or the refusal) of the first verification, which argon2 would give again. Every
    distinct password and pair is hashed and verified by argon2 for real.
    """

    def __init__(self, real: PasswordHasher) -> None:
        super().__init__(
            time_cost=real.time_cost,
            memory_cost=real.memory_cost,
            parallelism=real.parallelism,
            hash_len=real.hash_len,
            salt_len=real.salt_len,
            type=real.type,
        )
        self._hashes: dict[str | bytes, str] = {}
        self._verified: dict[tuple[str | bytes, str | bytes], Exception | None] = {}
        self._lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if salt is not None:
            return super().hash(password, salt=salt)
        with self._lock:
            known = self._hashes.get(password)
        if known is None:
            made = super().hash(password)
            with self._lock:
                known = self._hashes.setdefault(password, made)
        return known

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        key = (hash, password)
        with self._lock:
            known = key in self._verified
            refusal = self._verified.get(key)
        if not known:
            try:
                super().verify(hash, password)
            except (VerificationError, InvalidHashError) as error:
                refusal = error
            with self._lock:
                self._verified.setdefault(key, refusal)
        if refusal is not None:
            raise type(refusal)(*refusal.args)
        return True


@pytest.fixture(autouse=True, scope="session")
def remembering_hasher() -> Iterator[RememberingHasher]:
    """`RememberingHasher` in place of the back-office's hasher, for the whole session."""
    hasher = RememberingHasher(auth._hasher)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", hasher)
        yield hasher


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tests (marked `e2e` or `slow`) first, the others in their order: on
    parallel workers (`make test`, pytest-xdist's `--dist load`), the workers take them in
    turn at the start, rather than one worker running the last of them while the others
    have finished."""
    items.sort(
        key=lambda item: not any(item.iter_markers("e2e")) and not any(item.iter_markers("slow"))
    )


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


async def _create_postgres_database(root_url: str, template: str | None = None) -> str:
    """A new database on the server of `root_url` (a copy of `template` when given); its URL."""
    name = f"intake_{next(_database_numbers)}"
    dsn = root_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()
    return root_url.rsplit("/", 1)[0] + "/" + name


def _in_a_thread(work: Callable[[], T]) -> T:
    """`work()` in a thread of its own: it may run an event loop (migrate does), even when a
    fixture asks for it from a running loop (`request.getfixturevalue`)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_root_url: str) -> str:
    """A database migrated once per test session, which `postgres_url` and
    `any_database_url` copy: the same schema as migrating each fresh database, without
    running every migration again for each test. Its name."""

    def create() -> str:
        url = asyncio.run(_create_postgres_database(postgres_root_url))
        migrate(url)
        return url.rsplit("/", 1)[1]

    return _in_a_thread(create)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test session, which `migrated_sqlite` copies (as
    `migrated_postgres_template` for PostgreSQL)."""
    path = tmp_path_factory.mktemp("template") / "intake.db"
    _in_a_thread(lambda: migrate(f"sqlite+aiosqlite:///{path}"))
    assert not path.with_name(path.name + "-wal").exists()  # all in the file: a copy is whole
    return path


def migrated_sqlite(template: Path, folder: Path) -> str:
    """A fresh, migrated SQLite database in `folder` (a copy of the template); its URL."""
    path = folder / "intake.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database on SQLite, then on PostgreSQL (storage tests run on both)."""
    if request.param == "sqlite":
        return migrated_sqlite(request.getfixturevalue("migrated_sqlite_template"), tmp_path)
    return await _create_postgres_database(
        request.getfixturevalue("postgres_root_url"),
        template=request.getfixturevalue("migrated_postgres_template"),
    )


@pytest.fixture
async def postgres_url(postgres_root_url: str, migrated_postgres_template: str) -> str:
    """A fresh, migrated database on the session's PostgreSQL server."""
    return await _create_postgres_database(postgres_root_url, template=migrated_postgres_template)


@pytest.fixture
async def pg_or_sqlite(any_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on SQLite, then on PostgreSQL."""
    engine = create_engine(any_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database."""
    return migrated_sqlite(migrated_sqlite_template, tmp_path)


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
