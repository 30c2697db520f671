"""Updates of different chats at the same time, the updates of one chat one after the other.

python-telegram-bot either processes updates one at a time (a slow chat, a slow database
query or a slow Bot API call then holds up every citizen) or, with `concurrent_updates`,
all at once with no order at all. This update processor keeps each chat's updates in the
order they arrived and lets different chats run side by side, at most
`max_concurrent_updates` at a time. A chat's waiting updates do not take any of those
places: they wait for their chat first, then for a place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

UNBOUNDED = 1_000_000


def chat_of(update: object) -> int | None:
    """The chat an update belongs to (None for the few that have none)."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        # python-telegram-bot's own bound is taken before `do_process_update` runs, so a
        # chat's waiting updates would hold places: it is left wide open, and the real bound
        # is taken below, once it is the update's turn in its chat.
        super().__init__(UNBOUNDED)
        if max_concurrent_updates < 1:
            raise ValueError("max_concurrent_updates must be at least 1")
        self._running = asyncio.Semaphore(max_concurrent_updates)
        self._chats: dict[int | None, tuple[asyncio.Lock, int]] = {}
        """Per chat: its lock and how many of its updates are in hand (idle chats are
        forgotten)."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # python-telegram-bot creates one task per update, in the order the updates arrive,
        # and nothing before the chat's lock waits: asyncio's lock is first come, first
        # served, so a chat's updates run in their order of arrival.
        chat = chat_of(update)
        lock, in_hand = self._chats.get(chat, (asyncio.Lock(), 0))
        self._chats[chat] = (lock, in_hand + 1)
        try:
            async with lock, self._running:
                await coroutine
        finally:
            lock, in_hand = self._chats[chat]
            if in_hand == 1:
                del self._chats[chat]
            else:
                self._chats[chat] = (lock, in_hand - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
