"""The inbox seen by staff: updates waiting to be handled, and those the bot gave up on.

An update that failed every attempt is parked (`storage.inbox`): the citizen was told that
their message could not be handled. Staff see what it was and the last error, and may put
it back in the inbox once the cause is fixed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from babel.dates import format_timedelta
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.common import render, translator
from bot.backoffice.keys import SESSIONMAKER
from bot.text.i18n import Translator
from storage.inbox import UpdateKey, inbox_stats, parked_updates, retry_parked
from storage.models import InboxUpdate

EXCERPT_LENGTH = 120


async def inbox_figures(db: AsyncSession, t: Translator) -> dict[str, Any]:
    """What the inbox panel shows: counts (formatted) and the oldest waiting update's age."""
    stats = await inbox_stats(db)
    age = stats["oldest_pending_age_seconds"]
    return {
        "waiting": t.number(stats["pending"] + stats["processing"]),
        "oldest": None
        if age is None
        else format_timedelta(timedelta(seconds=age), locale=t.locale),
        "retrying": t.number(stats["retrying"]),
        "parked": t.number(stats["parked"]),
        "parked_count": stats["parked"],
    }


def what_it_was(update: InboxUpdate, t: Translator) -> str:
    """A short description of a parked update: the citizen's text, or what kind it was."""
    payload = update.payload or {}
    message = payload.get("message") or payload.get("edited_message")
    if isinstance(message, dict):
        text = message.get("text")
        if isinstance(text, str):
            return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"
        if "location" in message:
            return t.gettext("A location")
        return t.gettext("A message without text")
    if isinstance(payload.get("callback_query"), dict):
        return t.gettext("A button press")
    return t.gettext("Another kind of update")


async def inbox_page(request: web.Request) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        parked = await parked_updates(db)
        figures = await inbox_figures(db, t)
    rows = [
        {
            "bot_id": update.bot_id,
            "update_id": update.update_id,
            "chat": "—" if update.chat_id is None else str(update.chat_id),
            "what": what_it_was(update, t),
            "attempts": t.number(update.attempts),
            "error": update.last_error or "—",
            "received": t.datetime(update.received_at),
        }
        for update in parked
    ]
    try:
        retried: int | None = int(request.query["retried"])
    except (KeyError, ValueError):
        retried = None
    return await render(
        request, "inbox.html", {"inbox": figures, "rows": rows, "retried": retried}
    )


async def retry_one(request: web.Request) -> web.StreamResponse:
    key = UpdateKey(int(request.match_info["bot_id"]), int(request.match_info["update_id"]))
    async with request.app[SESSIONMAKER]() as db, db.begin():
        retried = await retry_parked(db, key)
    raise web.HTTPSeeOther(f"/inbox?retried={int(retried)}")


def add_inbox_routes(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox_page, name="inbox")
    app.router.add_post(
        r"/inbox/{bot_id:\d{1,18}}/{update_id:\d{1,18}}/retry", retry_one, name="inbox_retry"
    )
