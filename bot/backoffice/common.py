"""What every page shares: the app and request keys, the language, and rendering."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from bot.backoffice.auth import client_address, csrf_token
from bot.backoffice.keys import (
    DEFAULT_LANGUAGE,
    NEW_ASSIGNMENTS,
    STAFF,
    TRANSLATOR,
    TRUSTED_PROXIES,
)
from bot.text.i18n import LANGUAGES, N_, Translator


def _accept_language(header: str) -> str | None:
    """The first of fr, nl, en in an Accept-Language header, by preference."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        prefix = tag.strip().lower().replace("_", "-").split("-")[0]
        if prefix in LANGUAGES and quality > 0:
            weighted.append((-quality, position, prefix))
    return min(weighted)[2] if weighted else None


def request_language(request: web.Request) -> str:
    """The signed-in staff member's language; else ?lang=, Accept-Language, the default."""
    staff = request.get(STAFF)
    if staff is not None and staff.language in LANGUAGES:
        return str(staff.language)
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    accepted = _accept_language(request.headers.get("Accept-Language", ""))
    return accepted or request.app[DEFAULT_LANGUAGE]


def request_address(request: web.Request) -> str:
    """The client's address, through the trusted reverse proxies (auth.client_address)."""
    proxies = request.app[TRUSTED_PROXIES]
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), proxies)


def translator(request: web.Request) -> Translator:
    t = request.get(TRANSLATOR)
    if t is None:
        t = Translator(request_language(request))
        request[TRANSLATOR] = t
    return t


def _newstyle_gettext(t: Translator) -> Any:
    """Jinja2's "newstyle" gettext bound to one request's translator (see jinja2.ext.i18n)."""

    @pass_context
    def gettext(__context: Context, __string: str, **variables: Any) -> str:
        rv = t.gettext(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    return gettext


def _newstyle_ngettext(t: Translator) -> Any:
    @pass_context
    def ngettext(
        __context: Context, __singular: str, __plural: str, __num: int, **variables: Any
    ) -> str:
        variables.setdefault("num", __num)
        rv = t.ngettext(__singular, __plural, __num)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    return ngettext


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render a page in the request's language; the translator is never shared."""
    t = translator(request)
    session = await get_session(request)
    staff = request.get(STAFF)
    full: dict[str, Any] = {
        "t": t,
        "lang": t.language,
        "gettext": _newstyle_gettext(t),
        "ngettext": _newstyle_ngettext(t),
        "staff": staff,
        "new_for_me": request.get(NEW_ASSIGNMENTS, 0),
        "csrf_token": csrf_token(session),
        "current_path": request.path_qs,
        "path": request.path,
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, full, status=status)


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A page with an (English msgid) message, translated, and the given status."""
    return await render(
        request, "error.html", {"status": status, "message": message}, status=status
    )


PAGE_NUMBER = re.compile(r"[0-9]{1,9}")
"""A page number in a query string: digits only, nine at most, as in the API. A longer one
would take the database's offset past its integers (a 500); no list has that many pages."""


def page_number(text: str) -> int | None:
    """The page `text` names, from 1; None when it names none."""
    if not PAGE_NUMBER.fullmatch(text):
        return None
    page = int(text)
    return page if page >= 1 else None


class QueryReader:
    """Reads a list page's query string: valid values are kept in `params` (for the page
    links), bad ones are dropped with a notice in the staff member's language."""

    def __init__(self, query: Mapping[str, str], t: Translator) -> None:
        self.query = query
        self.t = t
        self.params: dict[str, str] = {}
        self.notices: list[str] = []

    def choice(self, name: str, allowed: Container[str]) -> str | None:
        value = self.query.get(name, "").strip()
        if not value:
            return None
        if value not in allowed:
            self.notices.append(
                self.t.gettext(
                    "The value “%(value)s” of the filter “%(name)s” is unknown; ignored."
                )
                % {"value": value[:60], "name": name}
            )
            return None
        self.params[name] = value
        return value

    def page(self) -> int:
        text = self.query.get("page", "1").strip() or "1"
        page = page_number(text)
        if page is None:
            self.notices.append(
                self.t.gettext("“%(value)s” is not a page number; the first page is shown.")
                % {"value": text[:60]}
            )
            return 1
        return page


def pagination(path: str, params: Mapping[str, str], page: int, pages: int) -> dict[str, Any]:
    """What templates/pagination.html needs: links that keep the list's filters."""

    def url(number: int) -> str:
        query = dict(params)
        if number > 1:
            query["page"] = str(number)
        return path + ("?" + urlencode(query) if query else "")

    return {
        "page": page,
        "pages": pages,
        "prev_url": url(page - 1) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
        "page_links": [(n, url(n)) for n in range(max(1, page - 4), min(pages, page + 4) + 1)],
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Allow the view only to signed-in staff with one of `roles` (403 for the others)."""

    def decorate(view: Handler) -> Handler:
        @functools.wraps(view)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            staff: Any = request.get(STAFF)
            if staff is None:
                raise web.HTTPUnauthorized()
            if staff.role not in roles:
                return await error_page(request, 403, N_("You do not have access to this page."))
            return await view(request)

        # Read by the router walk in the tests; a function object takes any attribute.
        wrapper.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapper

    return decorate
