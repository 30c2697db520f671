"""Saved filters of the proposal list (storage.saved_filters): saving the list's current
filters and sort under a name, and deleting one. The list page shows them above its filters.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

from bot.backoffice.common import error_page, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.backoffice.pages.proposals import list_query, parse_list_request
from bot.text.i18n import N_
from storage.saved_filters import NAME_LIMIT, delete_filter, save_filter


async def save(request: web.Request) -> web.StreamResponse:
    """Save the list's query (form field `query`, checked again here) under `name`."""
    form = await request.post()
    name = " ".join(str(form.get("name", "")).split())
    if not name or len(name) > NAME_LIMIT:
        return await error_page(request, 400, N_("Give the filter a name (80 characters at most)."))
    me = request[STAFF]
    wanted = parse_list_request(
        dict(parse_qsl(str(form.get("query", "")))), translator(request), me=me.id
    )
    query = list_query(wanted.params)
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await save_filter(db, me, name, query, shared=form.get("shared") == "1")
    raise web.HTTPSeeOther("/proposals" + ("?" + query if query else ""))


async def delete(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        deleted = await delete_filter(db, int(request.match_info["id"]), request[STAFF])
    if not deleted:
        return await error_page(request, 404, N_("There is no such saved filter."))
    raise web.HTTPSeeOther("/proposals")


def add_saved_filter_routes(app: web.Application) -> None:
    app.router.add_post("/saved-filters", save, name="saved_filter_save")
    app.router.add_post(r"/saved-filters/{id:\d{1,9}}/delete", delete, name="saved_filter_delete")
