"""Telegram's webhook: the registration, and the aiohttp route Telegram posts updates to.

The route checks the secret token (constant-time), stores the update in the inbox and only
then answers 200, so an update Telegram considers delivered is never lost; while the
database cannot store it the answer is 503 and Telegram delivers it again later. A wrong or
missing secret gets 403 and nothing is stored.
"""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text
from telegram import Bot

from bot.telegram.inbox import ALLOWED_UPDATES, InboxWorker

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def ensure_webhook(bot: Bot, url: str, secret: str, max_connections: int) -> bool:
    """Register the webhook unless Telegram already has this one; True if it was (re)set.

    Telegram does not report the secret: after changing only the secret, register again with
    `intake webhook --set`.
    """
    info = await bot.get_webhook_info()
    if (
        info.url == url
        and info.max_connections == max_connections
        and sorted(info.allowed_updates or ()) == sorted(ALLOWED_UPDATES)
    ):
        return False
    await bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        max_connections=max_connections,
    )
    log.info("webhook registered: %s (max_connections %d)", url, max_connections)
    return True


def webhook_path(url: str) -> str:
    """The path the webhook's public URL ends in, which the reverse proxy passes on."""
    return urlsplit(url).path or "/"


def webhook_app(url: str, worker: InboxWorker, secret: str) -> web.Application:
    """What `intake bot` serves in webhook mode: POST <the webhook's path> for Telegram, and
    GET /healthz for the reverse proxy (200 while the inbox's database answers)."""
    app = web.Application()
    add_webhook_route(app, webhook_path(url), worker, secret)

    async def healthz(request: web.Request) -> web.Response:
        try:
            async with worker.transaction() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return web.json_response({"status": "unavailable"}, status=503)
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    return app


def add_webhook_route(app: web.Application, path: str, worker: InboxWorker, secret: str) -> None:
    """POST `path`: an update from Telegram, into the inbox."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook request without the right secret token from %s", request.remote)
            return web.Response(status=403, text="Forbidden")
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            data = None  # RecursionError: nested deeper than Telegram ever sends
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="Bad Request: not an update")
        try:
            await worker.receive([data])
        except Exception:
            log.exception(
                "update %s could not be stored: Telegram will send it again", data["update_id"]
            )
            return web.Response(status=503, text="Service Unavailable")
        return web.Response(status=200)

    app.router.add_post(path, receive)
