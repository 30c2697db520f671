"""Engine, sessions and schema migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Select, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstrumentedAttribute

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


POOL_SIZE = 20
"""Connections a process keeps open to PostgreSQL (`DATABASE_POOL_SIZE`)."""
POOL_OVERFLOW = 10


def create_engine(url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """The engine for `url`.

    PostgreSQL: `pool_size` connections kept open, and up to `POOL_OVERFLOW` more opened
    for a burst (closed after it). Enough to keep for the updates a bot process handles at
    once: with SQLAlchemy's default of five, nearly every update beyond the fifth opened and
    closed a connection (its handshake, its statements prepared again), and a flat-out
    crowd got 44 instead of 60 answers a second.

    SQLite file: one connection per process. SQLite has a single writer, so several
    connections of one process only wait for each other's lock (with the busy handler's
    growing sleeps, and "database is locked" when a reading transaction cannot become a
    writer), and each keeps its own page cache and thread: one connection, handed out in
    turn, answered a flat-out crowd 1.4 times as fast and held a third of the memory.
    """
    database_file = _sqlite_file(url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"pool_size": 1, "max_overflow": 0}
    elif make_url(url).get_backend_name() == "postgresql":
        options = {"pool_size": pool_size, "max_overflow": POOL_OVERFLOW}
    else:
        options = {}
    engine = create_async_engine(url, pool_pre_ping=True, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Create or upgrade the schema to the newest revision (blocking; run off the event loop)."""
    if (database_file := _sqlite_file(url)) is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, which offers ON CONFLICT DO NOTHING on both backends."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def counts_by_status(
    session: AsyncSession, status: InstrumentedAttribute[str], statuses: Iterable[str]
) -> dict[str, int]:
    """How many rows of the column's table have each status (0 for the statuses none has)."""
    counts = dict.fromkeys(statuses, 0)
    result = await session.execute(select(status, func.count()).group_by(status))
    for value, count in result:
        counts[value] = int(count)
    return counts


class Leased(Protocol):
    """A queue row that a process claims for a while (the inbox's and the outbox's)."""

    status: Any
    lease_until: Any
    attempts: Any


L = TypeVar("L", bound=Leased)


async def lease(
    session: AsyncSession, statement: Select[L], status: str, until: datetime
) -> list[L]:
    """The rows `statement` selects (locked), marked `status` until `until`, each claim
    counted as an attempt. Does not commit."""
    rows = list((await session.execute(statement)).scalars())
    for row in rows:
        row.status = status
        row.lease_until = until
        row.attempts += 1
    await session.flush()
    return rows
