"""The control API under ``/_emulator/``: the user side (messages, button presses), what the
bot sent, and fault injection, for the tests, the demo and the preview."""

from __future__ import annotations

import asyncio
import copy
import random
import time
from typing import Any

from aiohttp import web

from bot.emulator.markup import utf16_length
from bot.emulator.methods import FAULT_STATUSES, METHODS
from bot.emulator.state import (
    STATE_KEY,
    CallbackQuery,
    EmulatorState,
    Hold,
    RandomFaults,
    StoredMessage,
)


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ControlError(400, "body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _req_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ControlError(400, f"{name} (int) is required")
    try:
        return int(value)
    except ValueError as exc:
        raise ControlError(400, f"{name} must be an int") from exc


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    return None if body.get(name) is None else _req_int(body, name)


def _user_and_chat(
    state: EmulatorState, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    user_id = _req_int(body, "user_id")
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": str(body.get("first_name") or "Test"),
    }
    # Absent: "en"; explicit null: no language_code at all (Telegram omits it when unknown).
    language_code = body.get("language_code", "en")
    if language_code is not None:
        user["language_code"] = str(language_code)
    if body.get("username"):
        user["username"] = str(body["username"])
    state.users[user_id] = user

    chat_type = str(body.get("chat_type") or "private")
    chat_id = _opt_int(body, "chat_id")
    if chat_type == "private":
        chat_id = user_id if chat_id is None else chat_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
    elif chat_type in ("group", "supergroup"):
        if chat_id is None:
            chat_id = -user_id if chat_type == "group" else -(10**12 + user_id)
        chat = {"id": chat_id, "type": chat_type, "title": str(body.get("title") or "Test group")}
    else:
        raise ControlError(400, "chat_type must be private, group or supergroup")
    state.chats[chat_id] = chat
    return user, chat


def _text_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0] if text.strip() else text
    return [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]


def _file_ids(state: EmulatorState, kind: str) -> dict[str, str]:
    n = state.next_update_id
    return {"file_id": f"emu-{kind}-{n}-AgACAgQAAxkBAAIB", "file_unique_id": f"AQAD{kind[:3]}{n}"}


async def _ctl_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    user, chat = _user_and_chat(state, body)
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise ControlError(400, "text must be a string")

    edited_id = _opt_int(body, "edited_message_id")
    if edited_id is not None:
        original = state.find(chat["id"], edited_id)
        if original is None or original.from_bot:
            raise ControlError(404, f"no user message {edited_id} in chat {chat['id']}")
        if text is None:
            raise ControlError(400, "text is required with edited_message_id")
        payload = original.payload
        key, ent_key = (
            ("text", "entities") if "text" in payload else ("caption", "caption_entities")
        )
        payload[key] = text
        payload.pop(ent_key, None)
        if entities := _text_entities(text):
            payload[ent_key] = entities
        payload["edit_date"] = int(time.time())
        original.edited = True
        update_id = state.enqueue({"edited_message": copy.deepcopy(payload)})
        return web.json_response(
            {"update_id": update_id, "message_id": edited_id, "last_seq": state.last_seq}
        )

    message: dict[str, Any] = {
        "message_id": state.new_message_id(chat["id"]),
        "from": user,
        "chat": chat,
        "date": int(time.time()),
    }
    location = body.get("location")
    if location is not None:
        if not isinstance(location, dict) or not {"latitude", "longitude"} <= location.keys():
            raise ControlError(400, "location needs latitude and longitude")
        message["location"] = {
            "latitude": float(location["latitude"]),
            "longitude": float(location["longitude"]),
        }
    elif body.get("sticker"):
        message["sticker"] = {
            **_file_ids(state, "sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "set_name": "EmulatorStickers",
            "file_size": 23456,
        }
    elif body.get("photo"):
        ids = _file_ids(state, "photo")
        message["photo"] = [
            {
                "file_id": ids["file_id"] + "-s",
                "file_unique_id": ids["file_unique_id"] + "s",
                "width": 90,
                "height": 68,
                "file_size": 1520,
            },
            {**ids, "width": 1280, "height": 960, "file_size": 184320},
        ]
        if text:
            message["caption"] = text
    elif body.get("voice"):
        message["voice"] = {
            **_file_ids(state, "voice"),
            "duration": int(body.get("duration") or 3),
            "mime_type": "audio/ogg",
            "file_size": 12800,
        }
    elif text is not None:
        if text == "":
            raise ControlError(400, "text must not be empty")
        message["text"] = text
        if entities := _text_entities(text):
            message["entities"] = entities
    else:
        raise ControlError(400, "give text, location, sticker, photo or voice")

    state.store(
        StoredMessage(
            chat_id=chat["id"], message_id=message["message_id"], from_bot=False, payload=message
        )
    )
    update_id = state.enqueue({"message": copy.deepcopy(message)})
    return web.json_response(
        {"update_id": update_id, "message_id": message["message_id"], "last_seq": state.last_seq}
    )


async def _ctl_callback(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    user, chat = _user_and_chat(state, body)
    message_id = _req_int(body, "message_id")
    data = body.get("data")
    if not isinstance(data, str):
        raise ControlError(400, "data (str) is required")
    msg = state.find(chat["id"], message_id)
    if msg is None or not msg.from_bot:
        raise ControlError(404, f"no bot message {message_id} in chat {chat['id']}")
    query_id = str(4_611_686_018_427_387_904 + state.next_callback_id)
    state.next_callback_id += 1
    state.callback_queries[query_id] = CallbackQuery(
        id=query_id, user_id=user["id"], chat_id=chat["id"], message_id=message_id, data=data
    )
    update_id = state.enqueue(
        {
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(msg.payload),
                "chat_instance": str(-(6_000_000_000_000_000_000 + abs(chat["id"]))),
                "data": data,
            }
        }
    )
    return web.json_response(
        {"update_id": update_id, "callback_query_id": query_id, "last_seq": state.last_seq}
    )


async def _ctl_raw(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    if not any(k != "update_id" for k in body):
        raise ControlError(400, "the update needs a field such as message or callback_query")
    update_id = state.enqueue(body)
    return web.json_response({"update_id": update_id, "last_seq": state.last_seq})


def _query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ControlError(400, f"{name} must be an int") from exc


async def _ctl_events(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    after = _query_int(request, "after") or 0
    try:
        timeout = float(request.query.get("timeout") or 0)
    except ValueError as exc:
        raise ControlError(400, "timeout must be a number") from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(timeout, 300.0))
    while True:
        found = state.events_after(after, chat_id)
        remaining = deadline - loop.time()
        if found or remaining <= 0 or state.closing:
            break
        await state.events_signal.wait(remaining)
    return web.json_response({"events": copy.deepcopy(found), "last_seq": state.last_seq})


async def _ctl_chat_messages(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        chat_id = int(request.match_info["chat_id"])
    except ValueError as exc:
        raise ControlError(400, "chat_id must be an int") from exc
    with_users = request.query.get("with_users") == "1"
    messages = [
        {
            "message_id": m.message_id,
            "from_bot": m.from_bot,
            "text": m.raw_text,
            "plain_text": m.payload.get("text", m.payload.get("caption")),
            "entities": m.payload.get("entities", m.payload.get("caption_entities", [])),
            "parse_mode": m.parse_mode,
            "reply_markup": m.reply_markup,
            "edited": m.edited,
        }
        for m in sorted(state.messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
        if (m.from_bot or with_users) and not m.deleted
    ]
    return web.json_response({"messages": copy.deepcopy(messages)})


async def _ctl_commands(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    result = []
    for (scope, chat_id, user_id, lang), commands in state.commands.items():
        entry: dict[str, Any] = {"scope": scope, "language_code": lang, "commands": commands}
        if chat_id is not None:
            entry["chat_id"] = chat_id
        if user_id is not None:
            entry["user_id"] = user_id
        result.append(entry)
    return web.json_response({"commands": copy.deepcopy(result)})


async def _ctl_callback_answers(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    answers = [a for a in state.callback_answers if chat_id is None or a["chat_id"] == chat_id]
    return web.json_response({"callback_answers": copy.deepcopy(answers)})


async def _ctl_pending(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"pending_updates": len(state.updates)})


async def _ctl_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _ctl_add_fault(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    status = _req_int(body, "status")
    if status not in FAULT_STATUSES:
        raise ControlError(400, f"status must be one of {', '.join(map(str, FAULT_STATUSES))}")
    count = _opt_int(body, "count")
    count = 1 if count is None else count
    if count < 1:
        raise ControlError(400, "count must be at least 1")
    retry_after = _opt_int(body, "retry_after")
    if status == 429 and retry_after is None:
        retry_after = 1
    fault = {
        "chat_id": _opt_int(body, "chat_id"),
        "status": status,
        "retry_after": retry_after,
        "count": count,
    }
    state.faults.append(fault)
    return web.json_response({"ok": True, "faults": copy.deepcopy(state.faults)})


def _faults_view(state: EmulatorState) -> dict[str, Any]:
    return {
        "faults": copy.deepcopy(state.faults),
        "random": None if state.random_faults is None else state.random_faults.describe(),
        "hold": None if state.hold is None else state.hold.describe(),
        "in_flight": len(state.in_flight),
    }


async def _ctl_list_faults(request: web.Request) -> web.Response:
    return web.json_response(_faults_view(request.app[STATE_KEY]))


async def _ctl_clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_faults()
    return web.json_response({"ok": True})


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ControlError(400, f"rates.{name} must be a number from 0 to 1")
    return float(value)


def _positive_seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ControlError(400, f"{name} must be a positive number of seconds")
    return float(value)


def _fault_methods(body: dict[str, Any]) -> frozenset[str]:
    methods = body.get("methods", ["sendMessage"])
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and m.lower() in METHODS for m in methods)
    ):
        raise ControlError(400, "methods must be a non-empty list of Bot API method names")
    return frozenset(m.lower() for m in methods)


async def _ctl_set_random_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    rates = body.get("rates")
    if not isinstance(rates, dict) or not set(rates) <= {"429", "500", "timeout"}:
        raise ControlError(400, 'rates must be an object with keys among "429", "500", "timeout"')
    rate_429, rate_500, rate_timeout = (
        _rate(rates.get(key, 0.0), key) for key in ("429", "500", "timeout")
    )
    if rate_429 + rate_500 + rate_timeout > 1 + 1e-9:
        raise ControlError(400, "the rates must add up to at most 1")
    retry_after = _opt_int(body, "retry_after")
    retry_after = 1 if retry_after is None else retry_after
    if retry_after < 1:
        raise ControlError(400, "retry_after must be at least 1 (seconds, as Telegram sends it)")
    seed = _opt_int(body, "seed")
    state.random_faults = RandomFaults(
        rate_429=rate_429,
        rate_500=rate_500,
        rate_timeout=rate_timeout,
        retry_after=retry_after,
        timeout_seconds=_positive_seconds(body.get("timeout_seconds", 30.0), "timeout_seconds"),
        methods=_fault_methods(body),
        seed=seed,
        rng=random.Random(seed),
    )
    return web.json_response({"ok": True, **_faults_view(state)})


async def _ctl_clear_random_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].random_faults = None
    return web.json_response({"ok": True})


async def _ctl_set_hold(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    seconds = _positive_seconds(body.get("seconds"), "seconds")
    state.hold = Hold(seconds=seconds, methods=_fault_methods(body))
    return web.json_response({"ok": True, **_faults_view(state)})


async def _ctl_clear_hold(request: web.Request) -> web.Response:
    request.app[STATE_KEY].hold = None
    return web.json_response({"ok": True})


async def _ctl_attempts(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    after = _query_int(request, "after") or 0
    method = (request.query.get("method") or "").lower()
    attempts = [
        a
        for a in state.attempts
        if a["seq"] > after
        and (chat_id is None or a["chat_id"] == chat_id)
        and (not method or a["method"].lower() == method)
    ]
    in_flight = sorted(state.in_flight.values(), key=lambda a: a["request_id"])
    return web.json_response(
        {"attempts": copy.deepcopy(attempts), "in_flight": copy.deepcopy(in_flight)}
    )


async def _ctl_spread_webhook(request: web.Request) -> web.Response:
    """``{"urls": [str]}``: deliver webhook updates to these URLs in turn (a load balancer in
    front of several bot instances); an empty list goes back to the registered URL."""
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    urls = body.get("urls")
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ControlError(400, "urls (list of str) is required")
    state.webhook_spread = list(urls)
    state.updates_signal.notify()
    return web.json_response({"ok": True, "urls": state.webhook_spread})


def add_control_routes(app: web.Application) -> None:
    """The control API's routes, under ``/_emulator/``."""
    app.router.add_post("/_emulator/updates/message", _ctl_message)
    app.router.add_post("/_emulator/updates/callback", _ctl_callback)
    app.router.add_post("/_emulator/updates/raw", _ctl_raw)
    app.router.add_get("/_emulator/events", _ctl_events)
    app.router.add_get("/_emulator/chats/{chat_id}/messages", _ctl_chat_messages)
    app.router.add_get("/_emulator/commands", _ctl_commands)
    app.router.add_get("/_emulator/callback_answers", _ctl_callback_answers)
    app.router.add_get("/_emulator/pending_updates", _ctl_pending)
    app.router.add_post("/_emulator/reset", _ctl_reset)
    app.router.add_post("/_emulator/faults", _ctl_add_fault)
    app.router.add_get("/_emulator/faults", _ctl_list_faults)
    app.router.add_delete("/_emulator/faults", _ctl_clear_faults)
    app.router.add_post("/_emulator/faults/random", _ctl_set_random_faults)
    app.router.add_delete("/_emulator/faults/random", _ctl_clear_random_faults)
    app.router.add_post("/_emulator/faults/hold", _ctl_set_hold)
    app.router.add_delete("/_emulator/faults/hold", _ctl_clear_hold)
    app.router.add_get("/_emulator/attempts", _ctl_attempts)
    app.router.add_post("/_emulator/webhook/spread", _ctl_spread_webhook)
