"""Async client for the emulator's control API (``/_emulator/``), for tests and the demo.

Typical test::

    async with EmulatorClient(emulator_url) as tg:
        await tg.send_text(42, "/start")
        reply = await tg.wait_for_reply(42)
        await tg.press_button(42, 42, "Français")
        reply = await tg.wait_for_reply(42)
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

import aiohttp

JSON = dict[str, Any]


class EmulatorError(RuntimeError):
    """The control API refused a request (bad arguments, unknown message...)."""


class EmulatorClient:
    """One aiohttp session talking to the emulator's control API.

    ``base_url`` is the emulator root (``http://127.0.0.1:8081``); the python-telegram-bot
    form ``http://127.0.0.1:8081/bot`` is accepted too.
    """

    def __init__(self, base_url: str, *, quiet_period: float = 0.3) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/bot")
        self.base_url = root
        self.quiet_period = quiet_period
        self._session: aiohttp.ClientSession | None = None
        self._last_seq: dict[int, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        params: dict[str, str] | None = None,
        request_timeout: float = 30.0,
    ) -> JSON:
        session = self._ensure_session()
        async with session.request(
            method,
            f"{self.base_url}/_emulator/{path}",
            json=body,
            params=params,
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as response:
            data: Any = await response.json(content_type=None)
            if response.status >= 400:
                message = data.get("error") if isinstance(data, dict) else data
                raise EmulatorError(f"{method} /_emulator/{path}: {response.status} {message}")
        if not isinstance(data, dict):
            raise EmulatorError(f"{method} /_emulator/{path}: unexpected answer {data!r}")
        return data

    # ---- injecting updates ----------------------------------------------------------------

    def _mark(self, chat_id: int, last_seq: Any) -> None:
        """Replies to what was just sent start after ``last_seq``."""
        if isinstance(last_seq, int):
            self._last_seq[chat_id] = max(self._last_seq.get(chat_id, 0), last_seq)

    async def send_message(self, user_id: int, **fields: Any) -> JSON:
        """Raw ``POST /_emulator/updates/message``; returns ``{"update_id", "message_id"}``."""
        body = {"user_id": user_id, **fields}
        result = await self._request("POST", "updates/message", body=body)
        chat_id = fields.get("chat_id")
        self._mark(int(chat_id) if chat_id is not None else user_id, result.get("last_seq"))
        return result

    async def send_text(self, user_id: int, text: str, **extra: Any) -> int:
        """The user writes ``text``; returns the update_id."""
        result = await self.send_message(user_id, text=text, **extra)
        return int(result["update_id"])

    async def send_location(self, user_id: int, lat: float, lon: float, **extra: Any) -> int:
        location = {"latitude": lat, "longitude": lon}
        result = await self.send_message(user_id, location=location, **extra)
        return int(result["update_id"])

    async def send_sticker(self, user_id: int, **extra: Any) -> int:
        result = await self.send_message(user_id, sticker=True, **extra)
        return int(result["update_id"])

    async def send_photo(self, user_id: int, caption: str | None = None, **extra: Any) -> int:
        if caption is not None:
            extra["text"] = caption
        result = await self.send_message(user_id, photo=True, **extra)
        return int(result["update_id"])

    async def send_voice(self, user_id: int, **extra: Any) -> int:
        result = await self.send_message(user_id, voice=True, **extra)
        return int(result["update_id"])

    async def edit_text(self, user_id: int, message_id: int, text: str, **extra: Any) -> int:
        """The user edits an earlier message of theirs (``edited_message`` update)."""
        result = await self.send_message(user_id, text=text, edited_message_id=message_id, **extra)
        return int(result["update_id"])

    async def press(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        **extra: Any,
    ) -> int:
        """Send a callback query for the bot message ``message_id`` with any ``data``
        (not checked against the keyboard, so tests can forge payloads)."""
        body: JSON = {"user_id": user_id, "message_id": message_id, "data": data, **extra}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self._request("POST", "updates/callback", body=body)
        self._mark(chat_id if chat_id is not None else user_id, result.get("last_seq"))
        return int(result["update_id"])

    async def send_raw(self, update: JSON) -> int:
        """Enqueue any update object (its update_id is assigned by the emulator)."""
        result = await self._request("POST", "updates/raw", body=update)
        return int(result["update_id"])

    # ---- inspecting -------------------------------------------------------------------------

    async def events(
        self,
        chat_id: int | None = None,
        after: int = 0,
        timeout: float = 0.0,  # noqa: ASYNC109 - server-side long-poll duration
    ) -> list[JSON]:
        """Bot events (send/edit/delete/answer_callback) with seq > ``after``; long-polls up to
        ``timeout`` seconds when there are none yet."""
        params = {"after": str(after), "timeout": str(timeout)}
        if chat_id is not None:
            params["chat_id"] = str(chat_id)
        result = await self._request("GET", "events", params=params, request_timeout=timeout + 30.0)
        events: list[JSON] = result["events"]
        return events

    async def last_seq(self) -> int:
        """Sequence number of the newest event (0 when there is none)."""
        params = {"after": str(2**62), "timeout": "0"}
        result = await self._request("GET", "events", params=params)
        return int(result.get("last_seq", 0))

    async def messages(self, chat_id: int, *, with_users: bool = False) -> list[JSON]:
        """The bot's messages in the chat as they are now (after edits and deletions); with
        `with_users`, the user's messages too (``from_bot`` tells them apart)."""
        params = {"with_users": "1"} if with_users else None
        result = await self._request("GET", f"chats/{chat_id}/messages", params=params)
        messages: list[JSON] = result["messages"]
        return messages

    async def commands(self) -> list[JSON]:
        result = await self._request("GET", "commands")
        commands: list[JSON] = result["commands"]
        return commands

    async def callback_answers(self, chat_id: int | None = None) -> list[JSON]:
        params = {} if chat_id is None else {"chat_id": str(chat_id)}
        result = await self._request("GET", "callback_answers", params=params)
        answers: list[JSON] = result["callback_answers"]
        return answers

    async def pending_updates(self) -> int:
        result = await self._request("GET", "pending_updates")
        return int(result["pending_updates"])

    async def reset(self) -> None:
        await self._request("POST", "reset")
        self._last_seq.clear()

    async def spread_webhook(self, urls: list[str]) -> None:
        """Deliver webhook updates to these URLs in turn (a load balancer); [] to stop."""
        await self._request("POST", "webhook/spread", body={"urls": urls})

    # ---- fault injection --------------------------------------------------------------------

    async def inject_fault(
        self,
        status: int,
        *,
        chat_id: int | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> list[JSON]:
        """Make the next ``count`` sendMessage calls (to ``chat_id``, or to any chat) fail with
        ``status``: 403 (bot blocked), 429 (flood control, ``retry_after`` seconds) or 500.
        Returns the faults now pending."""
        body: JSON = {"status": status, "count": count}
        if chat_id is not None:
            body["chat_id"] = chat_id
        if retry_after is not None:
            body["retry_after"] = retry_after
        result = await self._request("POST", "faults", body=body)
        faults: list[JSON] = result["faults"]
        return faults

    async def faults(self) -> list[JSON]:
        """The counted faults still pending (see :meth:`fault_state` for all kinds)."""
        result = await self._request("GET", "faults")
        faults: list[JSON] = result["faults"]
        return faults

    async def fault_state(self) -> JSON:
        """``{"faults": [...], "random": {...}|None, "hold": {...}|None, "in_flight": n}``."""
        return await self._request("GET", "faults")

    async def clear_faults(self) -> None:
        """Clear counted, random and hold faults (held requests are released)."""
        await self._request("DELETE", "faults")

    async def random_faults(
        self,
        *,
        too_many_requests: float = 0.0,
        server_error: float = 0.0,
        timeout: float = 0.0,  # noqa: ASYNC109 - a share of calls, not a duration
        retry_after: int = 1,
        seed: int | None = None,
        timeout_seconds: float = 30.0,
        methods: list[str] | None = None,
    ) -> JSON:
        """Answer these shares (0..1) of the calls to ``methods`` (default sendMessage) with
        429 (``retry_after`` seconds), 500, or a timeout: the request stays unanswered until the
        client disconnects (at most ``timeout_seconds``) and nothing is delivered. ``seed`` makes
        the draws reproducible. Replaces any earlier random faults; returns :meth:`fault_state`.
        """
        body: JSON = {
            "rates": {"429": too_many_requests, "500": server_error, "timeout": timeout},
            "retry_after": retry_after,
            "timeout_seconds": timeout_seconds,
        }
        if seed is not None:
            body["seed"] = seed
        if methods is not None:
            body["methods"] = methods
        return await self._request("POST", "faults/random", body=body)

    async def clear_random_faults(self) -> None:
        await self._request("DELETE", "faults/random")

    async def hold(self, seconds: float, *, methods: list[str] | None = None) -> JSON:
        """Delay every call to ``methods`` (default sendMessage) arriving from now on by
        ``seconds`` before it is processed; a call whose client disconnects meanwhile is never
        processed. Returns :meth:`fault_state`."""
        body: JSON = {"seconds": seconds}
        if methods is not None:
            body["methods"] = methods
        return await self._request("POST", "faults/hold", body=body)

    async def release_hold(self) -> None:
        """Stop holding; the requests held so far are processed now (if their client waits)."""
        await self._request("DELETE", "faults/hold")

    async def attempts(
        self, chat_id: int | None = None, *, method: str | None = None, after: int = 0
    ) -> list[JSON]:
        """Settled calls that named a chat, oldest first: ``seq``, ``method``, ``chat_id``,
        ``text``, ``outcome`` (ok, error, timeout, abandoned), ``error_code``, ``retry_after``,
        ``message_id``, ``received_at`` and ``answered_at`` (the emulator's monotonic clock)."""
        params = {"after": str(after)}
        if chat_id is not None:
            params["chat_id"] = str(chat_id)
        if method is not None:
            params["method"] = method
        result = await self._request("GET", "attempts", params=params)
        attempts: list[JSON] = result["attempts"]
        return attempts

    async def in_flight(self) -> list[JSON]:
        """Calls that arrived and are not settled yet (held, or waiting for a timeout)."""
        result = await self._request("GET", "attempts", params={"after": str(2**62)})
        in_flight: list[JSON] = result["in_flight"]
        return in_flight

    # ---- test helpers ---------------------------------------------------------------------

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has confirmed every injected update via getUpdates."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (pending := await self.pending_updates()) > 0:
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"the bot did not consume {pending} pending update(s) within {timeout}s "
                    "(is it polling this emulator?)"
                )
            await asyncio.sleep(0.02)

    async def wait_for_reply(
        self,
        chat_id: int,
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        quiet: float | None = None,
    ) -> list[JSON]:
        """Events in ``chat_id`` since the previous send/wait for that chat.

        Waits until at least one event arrives, then until nothing new came for ``quiet``
        seconds (default ``quiet_period``), so a multi-message reply is returned whole.
        """
        quiet = self.quiet_period if quiet is None else quiet
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        after = self._last_seq.get(chat_id, 0)
        collected: list[JSON] = []
        while not collected:
            remaining = deadline - loop.time()
            if remaining <= 0:
                pending = await self.pending_updates()
                raise TimeoutError(
                    f"no reply from the bot in chat {chat_id} within {timeout}s "
                    f"(waiting for events after seq {after}; {pending} update(s) not yet "
                    "fetched by the bot)"
                )
            collected = await self.events(chat_id, after=after, timeout=min(remaining, 10.0))
        after = collected[-1]["seq"]
        hard_stop = deadline + max(quiet, 1.0)
        while loop.time() < hard_stop:
            more = await self.events(chat_id, after=after, timeout=quiet)
            if not more:
                break
            collected.extend(more)
            after = more[-1]["seq"]
        self._last_seq[chat_id] = after
        return collected

    async def press_button(self, user_id: int, chat_id: int, label: str | int, **extra: Any) -> int:
        """Press a button of the newest bot message in ``chat_id`` that has an inline keyboard.

        ``label`` is a case-insensitive substring of the button text, or an int for the N-th
        button (1-based, rows flattened). ``extra`` goes to :meth:`press` (``language_code``,
        ``first_name``...). Returns the update_id of the callback query.
        """
        messages = await self.messages(chat_id)
        target: JSON | None = None
        for message in reversed(messages):
            markup = message.get("reply_markup")
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                target = message
                break
        if target is None:
            raise LookupError(f"no bot message with an inline keyboard in chat {chat_id}")
        buttons: list[JSON] = [b for row in target["reply_markup"]["inline_keyboard"] for b in row]
        labels = ", ".join(f"[{i}] {b.get('text', '')!r}" for i, b in enumerate(buttons, 1))
        chosen: JSON | None = None
        if isinstance(label, int):
            if 1 <= label <= len(buttons):
                chosen = buttons[label - 1]
        else:
            needle = label.casefold()
            chosen = next((b for b in buttons if needle in str(b.get("text", "")).casefold()), None)
        if chosen is None:
            raise LookupError(
                f"no button {label!r} on message {target['message_id']} in chat {chat_id}; "
                f"available: {labels}"
            )
        if "callback_data" not in chosen:
            raise LookupError(
                f"button {chosen.get('text')!r} on message {target['message_id']} has no "
                f"callback_data (it is not a callback button); available: {labels}"
            )
        return await self.press(
            user_id, target["message_id"], str(chosen["callback_data"]), chat_id=chat_id, **extra
        )
