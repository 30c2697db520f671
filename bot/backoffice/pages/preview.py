"""`/preview`: staff chat with the bot in the browser, before a call opens.

A second copy of the bot runs against a local Bot API emulator (wired by `bot.runners.process`);
its proposals are marked as tests, so lists and exports leave them out unless asked. This
page plays the citizen through the emulator's control API: it sends what staff type or
press, waits for the bot's answer, and shows the chat. No script: every action is a form.
Each staff member has one preview chat per language, so that a language can be tried
from the first message on.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape

from bot.backoffice.common import error_page, render, translator
from bot.backoffice.keys import PREVIEW_CLIENT, STAFF
from bot.emulator.client import EmulatorError
from bot.text.i18n import LANGUAGE_NAMES, LANGUAGES, N_

log = logging.getLogger(__name__)

PREVIEW_USER_BASE = 7_000_000_000_000
"""Far above real Telegram user ids, so a preview citizen never meets a real one."""
TEXT_LIMIT = 4096
REPLY_TIMEOUT = 10.0


def preview_user_id(staff_id: int, language: str) -> int:
    return PREVIEW_USER_BASE + staff_id * 10 + LANGUAGES.index(language)


def _language(value: object, fallback: str) -> str:
    return value if isinstance(value, str) and value in LANGUAGES else fallback


def telegram_html(text: str, entities: list[dict[str, Any]]) -> Markup:
    """A message's text with its bold, italic and link entities as safe HTML.

    Entity offsets count UTF-16 code units, as in the Bot API.
    """
    units = text.encode("utf-16-le")

    def piece(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le")

    tags = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "code": "code"}
    out: list[str] = []
    position = 0
    for entity in sorted(entities, key=lambda e: (e.get("offset", 0), -e.get("length", 0))):
        start, length = int(entity.get("offset", 0)), int(entity.get("length", 0))
        if start < position:  # nested entities: the outer one is enough here
            continue
        out.append(str(escape(piece(position, start))))
        inner = str(escape(piece(start, start + length)))
        kind = entity.get("type")
        url = str(entity.get("url", ""))
        if kind in tags:
            out.append(f"<{tags[kind]}>{inner}</{tags[kind]}>")
        elif kind == "text_link" and url.startswith(("https://", "http://")):
            out.append(f'<a href="{escape(url)}" rel="noopener noreferrer">{inner}</a>')
        else:
            out.append(inner)
        position = start + length
    out.append(str(escape(piece(position, len(units) // 2))))
    return Markup("".join(out))


def _bubble(message: dict[str, Any], keyboard_open: bool) -> dict[str, Any]:
    markup = message.get("reply_markup") or {}
    buttons = [
        [
            {"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
            for b in row
        ]
        for row in markup.get("inline_keyboard", [])
    ]
    return {
        "id": message["message_id"],
        "from_bot": message.get("from_bot", True),
        "html": telegram_html(message.get("plain_text") or "", message.get("entities") or []),
        "buttons": buttons if keyboard_open else [],
        "edited": message.get("edited", False),
    }


async def preview_page(request: web.Request) -> web.Response:
    t = translator(request)
    client = request.app.get(PREVIEW_CLIENT)
    language = _language(request.query.get("language"), t.language)
    context: dict[str, Any] = {
        "available": client is not None,
        "language": language,
        "languages": list(LANGUAGE_NAMES.items()),
        "bubbles": [],
        "error": None,
    }
    if client is not None:
        chat_id = preview_user_id(request[STAFF].id, language)
        try:
            messages = await client.messages(chat_id, with_users=True)
        except Exception:
            context["available"] = False
            messages = []
        context["bubbles"] = [_bubble(m, keyboard_open=True) for m in messages]
    return await render(request, "preview.html", context)


async def _act(request: web.Request, kind: str) -> web.StreamResponse:
    client = request.app.get(PREVIEW_CLIENT)
    if client is None:
        return await error_page(request, 404, N_("The bot preview is not running."))
    form = await request.post()
    language = _language(form.get("language"), translator(request).language)
    user_id = preview_user_id(request[STAFF].id, language)
    try:
        if kind == "press":
            message_id = int(str(form.get("message_id", "")))
            await client.press(
                user_id, message_id, str(form.get("data", "")), language_code=language
            )
        else:
            text = str(form.get("text", "")).strip()[:TEXT_LIMIT]
            if not text:
                raise web.HTTPSeeOther(f"/preview?language={language}#composer")
            await client.send_text(user_id, text, language_code=language)
        await client.wait_for_reply(user_id, timeout=REPLY_TIMEOUT)
    except (ValueError, EmulatorError):  # a forged form, or a message no longer there
        log.info("preview: refused %s for staff %s", kind, request[STAFF].id, exc_info=True)
        return await error_page(request, 400, N_("This button is not valid."))
    except TimeoutError:
        return await error_page(
            request, 504, N_("The bot did not answer in time. Please try again.")
        )
    raise web.HTTPSeeOther(f"/preview?language={language}#composer")


async def preview_send(request: web.Request) -> web.StreamResponse:
    return await _act(request, "send")


async def preview_press(request: web.Request) -> web.StreamResponse:
    return await _act(request, "press")


def add_preview_routes(app: web.Application) -> None:
    app.router.add_get("/preview", preview_page, name="preview")
    app.router.add_post("/preview/send", preview_send, name="preview_send")
    app.router.add_post("/preview/press", preview_press, name="preview_press")
