"""Delivery by webhook, as Telegram does once `setWebhook` is called.

Each pending update is POSTed as JSON to the webhook URL with the
``X-Telegram-Bot-Api-Secret-Token`` header when a secret was given, at most
`max_connections` at a time (so, like Telegram's, deliveries can overtake each other).
An update is forgotten once the bot answers 2xx; any other answer, or no answer, is retried
after a pause that grows to a few seconds, and shows in `getWebhookInfo`
(``last_error_date``, ``last_error_message``). When `spread` URLs are set (the control API's
``POST /_emulator/webhook/spread``), deliveries go to them in turn instead, standing in for a
load balancer in front of several bot instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator.state import STATE_KEY, EmulatorState

DELIVERY_TIMEOUT_SECONDS = 10.0
RETRY_FIRST_SECONDS = 0.2
RETRY_CAP_SECONDS = 4.0


class WebhookDelivery:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._in_flight: set[int] = set()
        self._not_before: dict[int, tuple[float, int]] = {}
        """Per update being retried: when it may go again, and how many tries failed."""
        self._turn = 0

    async def run(self, session: aiohttp.ClientSession) -> None:
        state = self.state
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not state.closing:
                for update in self._ready():
                    self._in_flight.add(update["update_id"])
                    task = asyncio.create_task(self._deliver(session, update))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await state.updates_signal.wait(0.05)
        finally:
            for task in tasks:
                task.cancel()

    def _ready(self) -> list[dict[str, Any]]:
        state = self.state
        if not state.webhook_url:
            return []
        free = state.webhook_max_connections - len(self._in_flight)
        now = time.monotonic()
        ready = []
        for update in state.deliverable():
            if free <= 0:
                break
            update_id = update["update_id"]
            if update_id in self._in_flight:
                continue
            if self._not_before.get(update_id, (0.0, 0))[0] > now:
                continue
            ready.append(update)
            free -= 1
        return ready

    def _target(self) -> str:
        spread = self.state.webhook_spread
        if not spread:
            return self.state.webhook_url
        self._turn += 1
        return spread[self._turn % len(spread)]

    async def _deliver(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        state = self.state
        update_id = update["update_id"]
        headers = {}
        if state.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = state.webhook_secret
        error = None
        try:
            async with session.post(
                self._target(),
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS),
            ) as response:
                if not 200 <= response.status < 300:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as failure:
            error = f"Connection failed: {type(failure).__name__}"
        finally:
            self._in_flight.discard(update_id)
        if error is None:
            self._not_before.pop(update_id, None)
            state.updates = [u for u in state.updates if u["update_id"] != update_id]
        else:
            failures = self._not_before.get(update_id, (0.0, 0))[1] + 1
            pause = min(RETRY_CAP_SECONDS, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
            self._not_before[update_id] = (time.monotonic() + pause, failures)
            state.webhook_last_error = (int(time.time()), error)
        state.updates_signal.notify()


async def webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the delivery loop runs for as long as the emulator."""
    delivery = WebhookDelivery(app[STATE_KEY])
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(delivery.run(session))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
