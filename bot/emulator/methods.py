"""The Bot API methods the bot uses, each a function of the state and the call's parameters
(registered by name with ``@_method``)."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from typing import Any

from bot.emulator.params import (
    bool_param,
    chat_id_param,
    float_param,
    format_text,
    inline_only,
    int_param,
    is_set,
    str_param,
    validate_reply_markup,
)
from bot.emulator.state import (
    CHAT_ACTIONS,
    COMMAND_RE,
    DEFAULT_UPDATE_TYPES,
    ApiError,
    EmulatorState,
    StoredMessage,
    bad_request,
)

Handler = Callable[[EmulatorState, dict[str, Any]], Any]
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook's secret token."""

METHODS: dict[str, Handler] = {}
ASYNC_METHODS: set[str] = set()


def _method(*names: str, is_async: bool = False) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = func
            if is_async:
                ASYNC_METHODS.add(name.lower())
        return func

    return register


@_method("getMe")
def _get_me(state: EmulatorState, params: dict[str, Any]) -> Any:
    return state.bot_user


@_method("logOut", "close")
def _log_out(state: EmulatorState, params: dict[str, Any]) -> Any:
    return True


@_method("setWebhook")
def _set_webhook(state: EmulatorState, params: dict[str, Any]) -> Any:
    url = str_param(params, "url") or ""
    if url and not url.startswith(("https://", "http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = str_param(params, "secret_token") or ""
    if secret and not SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = int_param(params, "max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad max_connections")
    state.webhook_url = url
    state.webhook_secret = secret
    state.webhook_max_connections = max_connections
    allowed = params.get("allowed_updates")
    if isinstance(allowed, list):
        state.webhook_allowed_updates = [str(a) for a in allowed]
        state.allowed_updates = frozenset(state.webhook_allowed_updates) or DEFAULT_UPDATE_TYPES
    if bool_param(params, "drop_pending_updates"):
        state.updates.clear()
    state.updates_signal.notify()
    return True


@_method("deleteWebhook")
def _delete_webhook(state: EmulatorState, params: dict[str, Any]) -> Any:
    state.webhook_url = ""
    state.webhook_secret = ""
    if bool_param(params, "drop_pending_updates"):
        state.updates.clear()
    return True


@_method("getWebhookInfo")
def _get_webhook_info(state: EmulatorState, params: dict[str, Any]) -> Any:
    info: dict[str, Any] = {
        "url": state.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }
    if state.webhook_url:
        info["max_connections"] = state.webhook_max_connections
        if state.webhook_allowed_updates is not None:
            info["allowed_updates"] = state.webhook_allowed_updates
        if state.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = state.webhook_last_error
    return info


@_method("getUpdates", is_async=True)
async def _get_updates(state: EmulatorState, params: dict[str, Any]) -> Any:
    if state.webhook_url:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = int_param(params, "offset") or 0
    limit = int_param(params, "limit") or 100
    limit = max(1, min(limit, 100))
    timeout = max(0.0, float_param(params, "timeout") or 0.0)
    allowed = params.get("allowed_updates")
    if isinstance(allowed, list):
        chosen = frozenset(str(a) for a in allowed)
        state.allowed_updates = chosen or DEFAULT_UPDATE_TYPES

    state.confirm(offset)
    state.poll_generation += 1
    generation = state.poll_generation
    state.updates_signal.notify()  # terminates an older long poll (409 below)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        available = state.deliverable()
        remaining = deadline - loop.time()
        if available or remaining <= 0 or state.closing:
            return copy.deepcopy(available[:limit])
        await state.updates_signal.wait(remaining)
        if state.poll_generation != generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )


def _bot_message(
    state: EmulatorState, chat_id: int, params: dict[str, Any], content: dict[str, Any]
) -> dict[str, Any]:
    """Build (and store later) the Message object for something the bot sends."""
    chat = state.ensure_chat(chat_id)
    reply_to: dict[str, Any] | None = None
    reply_params = params.get("reply_parameters")
    reply_mid: int | None = None
    allow_without = bool_param(params, "allow_sending_without_reply")
    if isinstance(reply_params, dict):
        reply_mid = int_param(reply_params, "message_id")
        allow_without = allow_without or bool_param(reply_params, "allow_sending_without_reply")
    elif is_set(params, "reply_to_message_id"):
        reply_mid = int_param(params, "reply_to_message_id")
    if reply_mid is not None:
        target = state.find(chat_id, reply_mid)
        if target is None and not allow_without:
            raise bad_request("message to be replied not found")
        if target is not None:
            reply_to = {k: v for k, v in target.payload.items() if k != "reply_to_message"}
    message: dict[str, Any] = {
        "message_id": 0,
        "from": state.bot_user,
        "chat": chat,
        "date": int(time.time()),
    }
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    message.update(content)
    return message


def _commit_bot_message(
    state: EmulatorState,
    chat_id: int,
    message: dict[str, Any],
    *,
    raw_text: str | None,
    parse_mode: str | None,
    markup: dict[str, Any] | None,
    **event_fields: Any,
) -> dict[str, Any]:
    message["message_id"] = state.new_message_id(chat_id)
    inline = inline_only(markup)
    if inline is not None:
        message["reply_markup"] = inline
    state.store(
        StoredMessage(
            chat_id=chat_id,
            message_id=message["message_id"],
            from_bot=True,
            payload=message,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=markup,
        )
    )
    state.record(
        "send",
        chat_id,
        message["message_id"],
        text=raw_text,
        parse_mode=parse_mode,
        reply_markup=markup,
        plain_text=message.get("text", message.get("caption")),
        **event_fields,
    )
    return copy.deepcopy(message)


FAULT_STATUSES = (403, 429, 500)


def injected_fault(state: EmulatorState, chat_id: int) -> ApiError | None:
    """The first injected fault matching this chat, consumed once (see the module docstring)."""
    for fault in state.faults:
        if fault["chat_id"] is not None and fault["chat_id"] != chat_id:
            continue
        fault["count"] -= 1
        if fault["count"] <= 0:
            state.faults.remove(fault)
        status = fault["status"]
        if status == 403:
            return ApiError(403, "Forbidden: bot was blocked by the user")
        if status == 429:
            return too_many_requests(fault["retry_after"])
        return ApiError(500, "Internal Server Error")
    return None


def too_many_requests(seconds: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


@_method("sendMessage")
def _send_message(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = chat_id_param(params)
    assert chat_id is not None
    text = str_param(params, "text")
    if text is None:
        raise bad_request("message text is empty")
    parse_mode = str_param(params, "parse_mode") or None
    plain, entities = format_text(state, text, parse_mode)
    if not entities and isinstance(params.get("entities"), list):
        entities = params["entities"]
    markup = validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"text": plain}
    if entities:
        content["entities"] = entities
    lpo = params.get("link_preview_options")
    if isinstance(lpo, dict) and lpo:
        content["link_preview_options"] = lpo
    message = _bot_message(state, chat_id, params, content)
    return _commit_bot_message(
        state, chat_id, message, raw_text=text, parse_mode=parse_mode, markup=markup
    )


@_method("sendLocation")
def _send_location(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = chat_id_param(params)
    assert chat_id is not None
    lat = float_param(params, "latitude", required=True)
    lon = float_param(params, "longitude", required=True)
    assert lat is not None and lon is not None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_request("wrong latitude or longitude")
    markup = validate_reply_markup(params.get("reply_markup"))
    location = {"latitude": lat, "longitude": lon}
    message = _bot_message(state, chat_id, params, {"location": location})
    return _commit_bot_message(
        state, chat_id, message, raw_text=None, parse_mode=None, markup=markup, location=location
    )


TEXT_PREVIEW_BYTES = 64 * 1024


def _document_fields(upload: object, name: str) -> dict[str, Any]:
    """What the terminal shows of a document: its name and, for an uploaded text file, its
    text (a chat app would let the user open it)."""
    fields: dict[str, Any] = {"file_name": name}
    data = upload.get("content") if isinstance(upload, dict) else None
    if isinstance(data, bytes) and len(data) <= TEXT_PREVIEW_BYTES:
        try:
            fields["file_text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return fields


def _send_media(state: EmulatorState, params: dict[str, Any], kind: str) -> Any:
    chat_id = chat_id_param(params)
    event_fields: dict[str, Any] = {}
    assert chat_id is not None
    if params.get(kind) in (None, ""):
        raise bad_request(f"there is no {kind} in the request")
    caption = str_param(params, "caption")
    parse_mode = str_param(params, "parse_mode") or None
    content: dict[str, Any] = {}
    file_id = f"emu-{kind}-{state.next_seq}"
    if kind == "photo":
        content["photo"] = [
            {"file_id": file_id + "-s", "file_unique_id": file_id + "s", "width": 90, "height": 67},
            {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600},
        ]
    else:
        upload = params.get(kind)
        name = upload.get("uploaded_file") if isinstance(upload, dict) else None
        content["document"] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name or "document",
        }
        event_fields.update(_document_fields(upload, name or "document"))
    if caption:
        plain, entities = format_text(state, caption, parse_mode, caption=True)
        content["caption"] = plain
        if entities:
            content["caption_entities"] = entities
    markup = validate_reply_markup(params.get("reply_markup"))
    message = _bot_message(state, chat_id, params, content)
    return _commit_bot_message(
        state,
        chat_id,
        message,
        raw_text=caption,
        parse_mode=parse_mode,
        markup=markup,
        media=kind,
        **event_fields,
    )


@_method("sendPhoto")
def _send_photo(state: EmulatorState, params: dict[str, Any]) -> Any:
    return _send_media(state, params, "photo")


@_method("sendDocument")
def _send_document(state: EmulatorState, params: dict[str, Any]) -> Any:
    return _send_media(state, params, "document")


def _message_to_edit(state: EmulatorState, params: dict[str, Any]) -> StoredMessage:
    if is_set(params, "inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat_id = chat_id_param(params)
    message_id = int_param(params, "message_id")
    if chat_id is None or message_id is None:
        raise bad_request("message identifier is not specified")
    msg = state.find(chat_id, message_id)
    if msg is None:
        raise bad_request("message to edit not found")
    if not msg.from_bot:
        raise bad_request("message can't be edited")
    return msg


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _apply_edit(
    state: EmulatorState,
    msg: StoredMessage,
    content: dict[str, Any] | None,
    markup: dict[str, Any] | None,
    *,
    raw_text: str | None,
    parse_mode: str | None,
) -> dict[str, Any]:
    """Apply an edit; ``content=None`` keeps text/caption (editMessageReplyMarkup)."""
    payload = msg.payload
    new_inline = inline_only(markup)
    same_content = content is None or all(
        payload.get(k) == content.get(k)
        for k in ("text", "entities", "caption", "caption_entities")
    )
    if same_content and payload.get("reply_markup") == new_inline:
        raise bad_request(_NOT_MODIFIED)
    if content is not None:
        for key in ("text", "entities", "caption", "caption_entities"):
            payload.pop(key, None)
        payload.update(content)
    if new_inline is None:
        payload.pop("reply_markup", None)
    else:
        payload["reply_markup"] = new_inline
    payload["edit_date"] = int(time.time())
    msg.edited = True
    msg.raw_text = raw_text
    msg.parse_mode = parse_mode
    msg.reply_markup = new_inline
    state.record(
        "edit",
        msg.chat_id,
        msg.message_id,
        text=raw_text,
        parse_mode=parse_mode,
        reply_markup=new_inline,
        plain_text=payload.get("text", payload.get("caption")),
    )
    return copy.deepcopy(payload)


@_method("editMessageText")
def _edit_message_text(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    text = str_param(params, "text")
    if text is None:
        raise bad_request("message text is empty")
    if "text" not in msg.payload:
        raise bad_request("there is no text in the message to edit")
    parse_mode = str_param(params, "parse_mode") or None
    plain, entities = format_text(state, text, parse_mode)
    # Like Telegram: omitting reply_markup removes the inline keyboard.
    markup = validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"text": plain}
    if entities:
        content["entities"] = entities
    return _apply_edit(state, msg, content, markup, raw_text=text, parse_mode=parse_mode)


@_method("editMessageCaption")
def _edit_message_caption(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    if "text" in msg.payload:
        raise bad_request("there is no caption in the message to edit")
    caption = str_param(params, "caption") or ""
    parse_mode = str_param(params, "parse_mode") or None
    plain, entities = format_text(state, caption, parse_mode, caption=True)
    markup = validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"caption": plain}
    if entities:
        content["caption_entities"] = entities
    return _apply_edit(state, msg, content, markup, raw_text=caption, parse_mode=parse_mode)


@_method("editMessageReplyMarkup")
def _edit_message_reply_markup(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    markup = validate_reply_markup(params.get("reply_markup"))
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("REPLY_MARKUP_INVALID")
    return _apply_edit(state, msg, None, markup, raw_text=msg.raw_text, parse_mode=msg.parse_mode)


@_method("deleteMessage")
def _delete_message(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = chat_id_param(params)
    message_id = int_param(params, "message_id", required=True)
    assert chat_id is not None and message_id is not None
    msg = state.find(chat_id, message_id)
    if msg is None:
        raise bad_request("message to delete not found")
    msg.deleted = True
    state.record("delete", chat_id, message_id)
    return True


@_method("answerCallbackQuery")
def _answer_callback_query(state: EmulatorState, params: dict[str, Any]) -> Any:
    query_id = str_param(params, "callback_query_id") or ""
    query = state.callback_queries.get(query_id)
    if query is None or query.answered:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = str_param(params, "text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    answer = {
        "callback_query_id": query_id,
        "chat_id": query.chat_id,
        "message_id": query.message_id,
        "data": query.data,
        "text": text,
        "show_alert": bool_param(params, "show_alert"),
        "url": str_param(params, "url"),
        "cache_time": int_param(params, "cache_time"),
    }
    state.callback_answers.append(answer)
    state.record(
        "answer_callback",
        query.chat_id,
        query.message_id,
        text=text,
        show_alert=answer["show_alert"],
        url=answer["url"],
        callback_query_id=query_id,
    )
    return True


@_method("sendChatAction")
def _send_chat_action(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id_param(params)
    action = str_param(params, "action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


def _scope_key(
    params: dict[str, Any],
) -> tuple[str, int | None, int | None, str]:
    scope = params.get("scope")
    if scope is None or scope == "":
        scope = {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    lang = str_param(params, "language_code") or ""
    return (scope["type"], int_param(scope, "chat_id"), int_param(scope, "user_id"), lang)


@_method("setMyCommands")
def _set_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    commands = params.get("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    clean: list[dict[str, Any]] = []
    for cmd in commands:
        if not isinstance(cmd, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name = str(cmd.get("command", ""))
        description = str(cmd.get("description", ""))
        if not COMMAND_RE.match(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": name, "description": description})
    key = _scope_key(params)
    if clean:
        state.commands[key] = clean
    else:
        state.commands.pop(key, None)
    return True


@_method("getMyCommands")
def _get_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    return copy.deepcopy(state.commands.get(_scope_key(params), []))


@_method("deleteMyCommands")
def _delete_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    state.commands.pop(_scope_key(params), None)
    return True


@_method("setChatMenuButton")
def _set_chat_menu_button(state: EmulatorState, params: dict[str, Any]) -> Any:
    button = params.get("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or "type" not in button:
        raise bad_request("can't parse menu button JSON object")
    state.menu_buttons[chat_id_param(params, required=False)] = button
    return True


@_method("getChatMenuButton")
def _get_chat_menu_button(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = chat_id_param(params, required=False)
    return state.menu_buttons.get(chat_id) or state.menu_buttons.get(None) or {"type": "commands"}


def _bot_text_methods(setter: str, getter: str, field_name: str) -> None:
    def set_text(state: EmulatorState, params: dict[str, Any]) -> Any:
        state.bot_texts[(field_name, str_param(params, "language_code") or "")] = (
            str_param(params, field_name) or ""
        )
        return True

    def get_text(state: EmulatorState, params: dict[str, Any]) -> Any:
        lang = str_param(params, "language_code") or ""
        value = state.bot_texts.get((field_name, lang)) or state.bot_texts.get((field_name, ""))
        if field_name == "name":
            value = value or state.bot_user["first_name"]
        return {field_name: value or ""}

    _method(setter)(set_text)
    _method(getter)(get_text)


_bot_text_methods("setMyDescription", "getMyDescription", "description")
_bot_text_methods("setMyShortDescription", "getMyShortDescription", "short_description")
_bot_text_methods("setMyName", "getMyName", "name")
