"""Reading Bot API parameters the way Telegram does (JSON, urlencoded or multipart; typed
values; formatted text and reply markup), with Telegram's error texts."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.emulator.markup import HtmlParseError, parse_html
from bot.emulator.state import (
    INLINE_BUTTON_ACTIONS,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    TEXT_PARAMS,
    EmulatorState,
    bad_request,
)


def _decode_value(name: str, value: Any) -> Any:
    if isinstance(value, str) and name not in TEXT_PARAMS and value[:1] in ("{", "["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, dict | list):
            return decoded
    return value


async def read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON encoded request parameters") from exc
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON encoded request parameters")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"uploaded_file": value.filename, "content": value.file.read()}
                else:
                    params[key] = value
    return {k: _decode_value(k, v) for k, v in params.items()}


def is_set(params: dict[str, Any], name: str) -> bool:
    return params.get(name) not in (None, "")


def int_param(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is empty")
        return None
    if isinstance(value, bool):
        raise bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid {name} specified") from exc


def float_param(params: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is empty")
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid {name} specified") from exc


def bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def str_param(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def chat_id_param(params: dict[str, Any], *, required: bool = True) -> int | None:
    value = params.get("chat_id")
    if value is None or value == "":
        if required:
            raise bad_request("chat_id is empty")
        return None
    if isinstance(value, bool):
        raise bad_request("chat not found")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        # "@channelusername": the emulator knows no public chats
        raise bad_request("chat not found") from exc


def format_text(
    state: EmulatorState,
    text: str,
    parse_mode: str | None,
    *,
    caption: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Validate ``text`` like Telegram and return (plain text, entities)."""
    mode = (parse_mode or "").strip()
    if mode.lower() == "html":
        try:
            plain, entities = parse_html(text, strict_ampersand=state.strict_ampersand)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from exc
    elif mode == "" or mode.lower() in ("markdown", "markdownv2"):
        plain, entities = text, []
    else:
        raise bad_request("unsupported parse_mode")
    if caption:
        if len(plain) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
    else:
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
    return plain, entities


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise bad_request("can't parse inline keyboard button: Text must be a String")
                actions = INLINE_BUTTON_ACTIONS & button.keys()
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not data
                        or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                    ):
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not button["url"]:
                    raise bad_request("BUTTON_URL_INVALID")
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None
