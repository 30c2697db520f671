"""Conversation state: one row per private chat, loaded under a per-chat lock.

python-telegram-bot's ConversationHandler keeps state in process memory; here every
update loads the row, runs one step and saves it in one transaction, so a restart or a
second instance continues exactly where the citizen was.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.database import dialect_insert
from storage.models import Conversation

LOCK_STRIPES = 256


class ConversationStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        # Striped in-process locks: bounded memory, and updates of one chat never interleave.
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _lock_for(self, chat_id: int) -> asyncio.Lock:
        return self._locks[zlib.crc32(str(chat_id).encode()) % LOCK_STRIPES]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction committed on exit, for work outside a conversation."""
        async with self._sessionmaker.begin() as session:
            yield session

    @asynccontextmanager
    async def open(self, chat_id: int) -> AsyncIterator[tuple[AsyncSession, Conversation]]:
        """The chat's conversation row, locked, inside a transaction committed on exit.

        On PostgreSQL the row is taken with SELECT … FOR UPDATE, so several bot instances
        sharing the database serialise on it; on SQLite the striped lock and the single
        writer do the same within one process.
        """
        async with self._lock_for(chat_id), self._sessionmaker() as session:
            async with session.begin():
                await _insert_if_missing(session, chat_id)
                conversation = (
                    await session.execute(
                        select(Conversation)
                        .where(Conversation.chat_id == chat_id)
                        .with_for_update()
                        .execution_options(populate_existing=True)
                    )
                ).scalar_one()
                yield session, conversation


async def _insert_if_missing(session: AsyncSession, chat_id: int) -> None:
    values = {"chat_id": chat_id, "flow": "intake", "step": "start", "draft": {}, "version": 0}
    insert = dialect_insert(session)
    await session.execute(insert(Conversation).values(values).on_conflict_do_nothing())


async def delete_conversation(session: AsyncSession, chat_id: int) -> None:
    conversation = await session.get(Conversation, chat_id)
    if conversation is not None:
        await session.delete(conversation)
