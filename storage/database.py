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


def _ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    _ensure_sqlite_directory(url)
    engine = create_async_engine(url, pool_pre_ping=True)
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
    _ensure_sqlite_directory(url)
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
