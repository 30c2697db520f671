"""My queue, the back-office's landing page: the open proposals assigned to the signed-in
staff member or to nobody, the longest wait first, with overdue ones marked; administrators
also see the team's load (open and overdue proposals per assignee)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.backoffice.common import QueryReader, pagination, render, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.backoffice.pages.proposals import (
    ASSIGNEE_NOBODY,
    PER_PAGE,
    bulk_choices,
    proposal_row,
    queue_filters,
)
from bot.backoffice.waiting import Waits
from bot.text.i18n import Translator
from storage.answer_templates import all_templates
from storage.review import Load, search_proposals, team_load
from storage.staff import all_staff


def _load_row(t: Translator, load: Load, emails: dict[int, str], waits: Waits) -> dict[str, Any]:
    who = ASSIGNEE_NOBODY if load.staff_id is None else str(load.staff_id)
    longest = waits.waited(t, load.oldest_wait)[1] if load.oldest_wait is not None else None
    return {
        "who": emails.get(load.staff_id, "?") if load.staff_id is not None else None,
        "open": load.open,
        "overdue": load.overdue,
        "longest": longest,
        "url": "/proposals?" + urlencode({"assignee": who, "sort": "waiting"}),
    }


async def queue_page(request: web.Request) -> web.Response:
    t = translator(request)
    me = request[STAFF]
    reader = QueryReader(request.query, t)
    page = reader.page()
    waits = Waits.of(request)
    filters = queue_filters(me.id)
    async with request.app[SESSIONMAKER]() as db:
        staff = await all_staff(db)
        templates = await all_templates(db)
        proposals, total = await search_proposals(
            db, filters, sort="waiting", page=page, per_page=PER_PAGE
        )
        pages = max(1, math.ceil(total / PER_PAGE))
        if page > pages:
            page = pages
            proposals, total = await search_proposals(
                db, filters, sort="waiting", page=page, per_page=PER_PAGE
            )
        loads = await team_load(db, waits.overdue_from) if me.role == "admin" else []
    emails = {member.id: member.email for member in staff}
    return await render(
        request,
        "queue.html",
        {
            "rows": [proposal_row(t, p, waits, emails, me.id) for p in proposals],
            "total": total,
            "delay": waits.delay,
            "loads": [_load_row(t, load, emails, waits) for load in loads],
            "notices": reader.notices,
            **bulk_choices(t, staff, templates),
            **pagination("/", {}, page, pages),
        },
    )


def add_queue_routes(app: web.Application) -> None:
    app.router.add_get("/", queue_page, name="queue")
