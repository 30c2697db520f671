"""An in-process Telegram for flow tests: a python-telegram-bot transport and a chat helper."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from bot.telegram.inbox import InboxWorker

BOT_USER = {
    "id": 123456,  # the id the flow tests' token starts with
    "is_bot": True,
    "first_name": "Intake Bot",
    "username": "intake_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


class FakeTelegram(BaseRequest):
    """Answers Bot API calls in memory and records them, like Telegram would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failing: list[str] = []
        """Methods whose next call fails as if Telegram could not be reached."""
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.documents: list[tuple[int, str, bytes]] = []
        """Files sent: (chat id, file name, content)."""
        self._ids = itertools.count(1)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if name in self.failing:
            self.failing.remove(name)
            raise NetworkError(f"{name}: Telegram could not be reached")
        self.calls.append((name, params))
        result: Any = True
        if name == "getMe":
            result = BOT_USER
        elif name == "sendMessage":
            chat_id = int(params["chat_id"])
            message = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": params["text"],
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.messages[(chat_id, message["message_id"])] = message
            result = message
        elif name == "sendDocument":
            assert request_data is not None and request_data.multipart_data
            filename, content, _mime = request_data.multipart_data["document"]
            self.documents.append((int(params["chat_id"]), filename, bytes(content)))
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "document": {"file_id": f"doc-{len(self.documents)}", "file_unique_id": "d"},
            }
        elif name in ("editMessageText", "editMessageReplyMarkup"):
            key = (int(params["chat_id"]), int(params["message_id"]))
            message = self.messages[key]
            if "text" in params:
                message["text"] = params["text"]
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            result = message
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def fail_next(self, method: str) -> None:
        self.failing.append(method)

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        return [
            p for name, p in self.calls if name == "sendMessage" and int(p["chat_id"]) == chat_id
        ]


class FakeChat:
    """One citizen in a private chat with the bot."""

    _update_ids = itertools.count(1)

    def __init__(
        self, worker: InboxWorker, telegram: FakeTelegram, user_id: int, language_code: str | None
    ) -> None:
        self.worker = worker
        self.app = worker.application
        self.telegram = telegram
        self.user_id = user_id
        self.language_code = language_code
        self._message_ids = itertools.count(1)

    def _user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": "Test"}
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def _chat(self, chat_type: str = "private") -> dict[str, Any]:
        if chat_type == "private":
            return {"id": self.user_id, "type": "private", "first_name": "Test"}
        return {"id": -100 - self.user_id, "type": chat_type, "title": "Neighbours"}

    def update(self, payload: dict[str, Any], update_id: int | None = None) -> dict[str, Any]:
        """An update of this chat with the next update id (or `update_id`), as Telegram
        sends it."""
        return {"update_id": update_id or next(self._update_ids), **payload}

    async def _process(self, payload: dict[str, Any], update_id: int | None = None) -> int:
        """Deliver an update as Telegram would: into the inbox, then applied."""
        update = self.update(payload, update_id)
        await self.worker.receive([update])
        await self.worker.drain()
        return int(update["update_id"])

    def message(self, chat_type: str = "private", **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_type),
            "from": self._user(),
            **content,
        }

    async def send(self, text: str, chat_type: str = "private") -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._process({"message": self.message(chat_type, **content)})

    async def send_raw(self, **content: Any) -> int:
        return await self._process({"message": self.message(**content)})

    async def send_location(self, latitude: float, longitude: float) -> int:
        location = {"latitude": latitude, "longitude": longitude}
        return await self._process({"message": self.message(location=location)})

    async def edit(self, message_id: int, text: str) -> int:
        edited = self.message(text=text)
        edited["message_id"] = message_id
        edited["edit_date"] = int(time.time())
        return await self._process({"edited_message": edited})

    def press_payload(self, message: dict[str, Any], data: str) -> dict[str, Any]:
        query = {
            "id": str(next(self._update_ids)),
            "from": self._user(),
            "chat_instance": "ci",
            "message": message,
            "data": data,
        }
        return {"callback_query": query}

    async def press_data(self, message: dict[str, Any], data: str) -> int:
        return await self._process(self.press_payload(message, data))

    def last(self) -> dict[str, Any]:
        """The newest message the bot sent in this chat, as it is now (after edits)."""
        ids = [mid for (cid, mid) in self.telegram.messages if cid == self.user_id]
        return self.telegram.messages[(self.user_id, max(ids))]

    def last_text(self) -> str:
        return str(self.last()["text"])

    def buttons(self, message: dict[str, Any] | None = None) -> list[tuple[str, str]]:
        message = message or self.last_with_buttons()
        markup = message.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [
            (b["text"], b["callback_data"])
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]

    def last_with_buttons(self) -> dict[str, Any]:
        for (cid, _mid), message in sorted(self.telegram.messages.items(), reverse=True):
            if cid == self.user_id and message.get("reply_markup"):
                return message
        raise LookupError("no message with buttons")

    async def press(self, label: str | int) -> int:
        """Press a button of the newest message with buttons: by label substring or 1-based
        position."""
        message = self.last_with_buttons()
        buttons = self.buttons(message)
        if isinstance(label, int):
            return await self.press_data(message, buttons[label - 1][1])
        for text, data in buttons:
            if label.lower() in text.lower():
                return await self.press_data(message, data)
        raise LookupError(f"no button {label!r} in {[t for t, _ in self.buttons(message)]}")

    async def choose(self, *labels: str) -> None:
        """Tick exactly these options of the newest toggle question (labels by substring)."""
        wanted = [label.lower() for label in labels]
        message = self.last_with_buttons()
        toggles = [(text, data) for text, data in self.buttons(message)]
        toggles = toggles[: -len(self.buttons_of_last_row(message))]  # not Done, Back
        for text, _data in toggles:
            ticked = text.startswith("✅")
            if ticked != any(w in text.lower() for w in wanted):
                await self.press(text)

    def buttons_of_last_row(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        markup = message.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return list(markup.get("inline_keyboard", [[]])[-1])
