"""The outbox seen by staff: delivery figures, dead letters and putting them back in the queue.

Every signed-in staff member sees the dead messages and may retry one; retrying them all
at once is for administrators.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from aiohttp import web
from babel.dates import format_timedelta
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.common import page_number, pagination, render, require_role, translator
from bot.backoffice.keys import SESSIONMAKER
from bot.backoffice.pages.proposals import PER_PAGE
from bot.text.i18n import Translator
from storage.outbox import outbox_stats, retry_dead
from storage.stats import dead_letter_ids, dead_letters, outbox_failed_count


async def outbox_figures(db: AsyncSession, t: Translator) -> dict[str, Any]:
    """What the outbox panel shows: counts (formatted) and the oldest waiting message's age."""
    stats = await outbox_stats(db)
    failed = await outbox_failed_count(db)
    age = stats["oldest_pending_age_seconds"]
    return {
        "pending": t.number(stats["pending"]),
        "oldest": None
        if age is None
        else format_timedelta(timedelta(seconds=age), locale=t.locale),
        "sent": t.number(stats["sent"]),
        "failed": t.number(failed),
        "dead": t.number(stats["dead"]),
        "dead_count": stats["dead"],
    }


def _int_query(request: web.Request, name: str) -> int | None:
    try:
        return int(request.query.get(name, ""))
    except ValueError:
        return None


async def outbox_page(request: web.Request) -> web.Response:
    t = translator(request)
    page = page_number(request.query.get("page", "")) or 1
    async with request.app[SESSIONMAKER]() as db:
        letters, total = await dead_letters(db, page=page, per_page=PER_PAGE)
        pages = max(1, math.ceil(total / PER_PAGE))
        if page > pages:
            page = pages
            letters, total = await dead_letters(db, page=page, per_page=PER_PAGE)
        figures = await outbox_figures(db, t)
    rows = [
        {
            "id": letter.id,
            "kind": letter.kind,
            "chat": "—" if letter.chat_id is None else str(letter.chat_id),
            "key": letter.dedupe_key,
            "attempts": t.number(letter.attempts),
            "error": letter.last_error or "—",
            "created": t.datetime(letter.created_at),
        }
        for letter in letters
    ]
    return await render(
        request,
        "outbox.html",
        {
            "outbox": figures,
            "rows": rows,
            "total": total,
            **pagination("/outbox", {}, page, pages),
            "retried": _int_query(request, "retried"),
        },
    )


async def retry_one(request: web.Request) -> web.StreamResponse:
    message_id = int(request.match_info["message_id"])
    async with request.app[SESSIONMAKER]() as db, db.begin():
        retried = await retry_dead(db, message_id)
    raise web.HTTPSeeOther(f"/outbox?retried={int(retried)}")


@require_role("admin")
async def retry_all(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        retried = 0
        for message_id in await dead_letter_ids(db):
            retried += await retry_dead(db, message_id)
    raise web.HTTPSeeOther(f"/outbox?retried={retried}")


def add_outbox_routes(app: web.Application) -> None:
    app.router.add_get("/outbox", outbox_page, name="outbox")
    app.router.add_post(r"/outbox/{message_id:\d{1,9}}/retry", retry_one, name="outbox_retry")
    app.router.add_post("/outbox/retry-all", retry_all, name="outbox_retry_all")
