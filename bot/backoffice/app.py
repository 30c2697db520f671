"""The back-office application: sessions, security headers, CSRF, sign-in, routes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backoffice.api.metrics import add_metrics_routes
from bot.backoffice.api.proposals import API_PREFIX, add_api_routes, api_guard
from bot.backoffice.auth import CSRF_FIELD, SESSION_TOKEN, IPNetwork, LoginThrottle, csrf_valid
from bot.backoffice.common import Handler, error_page
from bot.backoffice.keys import (
    ANNOUNCER,
    DEFAULT_LANGUAGE,
    NEW_ASSIGNMENTS,
    PREVIEW_CLIENT,
    RETENTION,
    SERVICE_DELAY,
    SESSION_IDLE,
    SESSIONMAKER,
    STAFF,
    STAFF_SESSION,
    THROTTLE,
    TRUSTED_PROXIES,
    BotUsername,
)
from bot.backoffice.pages import proposals
from bot.backoffice.pages.accounts import add_account_routes
from bot.backoffice.pages.answer_templates import add_answer_template_routes
from bot.backoffice.pages.assignment_rules import add_assignment_rule_routes
from bot.backoffice.pages.bulk import add_bulk_routes
from bot.backoffice.pages.catalogue import add_catalogue_routes
from bot.backoffice.pages.coaches import add_coach_routes
from bot.backoffice.pages.dashboard import add_dashboard_routes
from bot.backoffice.pages.duplicates import add_duplicate_routes
from bot.backoffice.pages.evaluation import add_evaluation_routes
from bot.backoffice.pages.exports import add_export_routes
from bot.backoffice.pages.inbox import add_inbox_routes
from bot.backoffice.pages.outbox import add_outbox_routes
from bot.backoffice.pages.preview import add_preview_routes
from bot.backoffice.pages.queue import add_queue_routes
from bot.backoffice.pages.saved_filters import add_saved_filter_routes
from bot.backoffice.pages.sessions import add_session_routes
from bot.emulator.client import EmulatorClient
from bot.services.announcements import Announcer
from bot.text.i18n import LANGUAGES, N_
from storage.assignment import new_for
from storage.retention import DEFAULT_RETENTION, RetentionPolicy
from storage.staff_sessions import SESSION_LIFETIME, signed_in

HERE = Path(__file__).parent
COOKIE_NAME = "intake_session"
SESSION_MAX_AGE = int(SESSION_LIFETIME.total_seconds())
DEFAULT_SESSION_IDLE = timedelta(hours=2)
DEFAULT_SERVICE_DELAY_DAYS = 10
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics"})  # /metrics checks its own token
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""A catalogue file of about 50 000 initiatives."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/static/")


def _wants_html(request: web.Request) -> bool:
    """A page a browser navigates to (GET/HEAD, not an API or JSON request)."""
    if request.method not in ("GET", "HEAD") or request.path.startswith("/api/"):
        return False
    accept = request.headers.get("Accept", "")
    return not ("application/json" in accept and "text/html" not in accept)


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse any state-changing request without the session's CSRF token (403).

    The API is left out: it reads no cookie (a bearer token only) and changes nothing.
    """
    if request.method in UNSAFE_METHODS and not request.path.startswith(API_PREFIX):
        session = await get_session(request)
        supplied: object = request.headers.get("X-CSRF-Token")
        if request.content_type in FORM_TYPES:
            # Read here for every form (aiohttp keeps it for the handler), so that a body
            # that cannot be read is refused once, for every route, before any handler.
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                return await error_page(
                    request,
                    413,
                    N_("This file is too large: 16 MB at most. Split it and send the parts."),
                )
            except (ValueError, LookupError):  # a multipart body without its boundary, a
                # nameless field, or a charset Python does not know
                return await error_page(
                    request,
                    400,
                    N_("This form could not be read. Go back to the page and send it again."),
                )
            if supplied is None:
                supplied = form.get(CSRF_FIELD)
        if not csrf_valid(session, supplied):
            return await error_page(
                request,
                403,
                N_("This form has expired or was not sent from this site. Please try again."),
            )
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the signed-in staff member; send everyone else to the sign-in page (or 401).

    The API authenticates by bearer token instead (api.api_guard).
    """
    if request.path.startswith(API_PREFIX):
        return await api_guard(request, handler)
    session = await get_session(request)
    token = session.get(SESSION_TOKEN)
    if isinstance(token, str):
        async with request.app[SESSIONMAKER]() as db, db.begin():
            found = await signed_in(db, token, idle=request.app[SESSION_IDLE])
            if found is not None and not _is_public(request.path):  # not for static files
                request[NEW_ASSIGNMENTS] = await new_for(db, found[1].id)
        if found is None:  # signed out elsewhere, ended, expired, or the account removed
            session.invalidate()
        else:
            request[STAFF_SESSION], request[STAFF] = found[0].id, found[1]
    if STAFF in request or _is_public(request.path):
        return await handler(request)
    if _wants_html(request):
        raise web.HTTPSeeOther(
            request.app.router["login"].url_for().with_query(next=request.path_qs)
        )
    raise web.HTTPUnauthorized(text="sign-in required")


@web.middleware
async def not_found_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A page address that does not exist gets a page in the staff member's language, with
    the menu to go on from, instead of aiohttp's plain text (the API, the metrics and
    static files keep their own answers)."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if not _wants_html(request) or _is_public(request.path) or STAFF not in request:
            raise
        return await error_page(request, 404, N_("There is no page at this address."))


def _preview_client(url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        async with EmulatorClient(url) as client:
            app[PREVIEW_CLIENT] = client
            yield

    return context


class SessionCookies(EncryptedCookieStorage):
    """aiohttp-session's encrypted cookie, where a cookie that cannot be one (bytes that are
    not ASCII, which the library would fail to encode back) means no session."""

    def load_cookie(self, request: web.Request) -> str | None:
        cookie = super().load_cookie(request)
        return cookie if cookie is None or cookie.isascii() else None


def _fernet_key(secret_key: bytes) -> bytes:
    if len(secret_key) < 32:
        raise ValueError("the back-office secret key needs at least 32 bytes")
    return secret_key if len(secret_key) == 32 else hashlib.sha256(secret_key).digest()


def create_app(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    secret_key: bytes,
    default_language: str = "fr",
    throttle: LoginThrottle | None = None,
    secure_cookie: bool = False,
    session_idle: timedelta = DEFAULT_SESSION_IDLE,
    trusted_proxies: Sequence[IPNetwork] = (),
    retention: RetentionPolicy = DEFAULT_RETENTION,
    service_delay_days: int = DEFAULT_SERVICE_DELAY_DAYS,
    metrics_token: str | None = None,
    announcer: Announcer | None = None,
    preview_url: str | None = None,
    bot_username: BotUsername | None = None,
) -> web.Application:
    """The back-office. `secret_key` (32+ random bytes) encrypts the session cookie.

    `preview_url`: the Bot API emulator that the preview bot polls (the /preview page).
    `announcer` tells the external back-office about status changes (webhook).
    `secure_cookie`: send the cookie over HTTPS only (the back-office is served by HTTPS).
    `session_idle`: a signed-in session unused this long ends (12 hours after sign-in at most).
    `retention`: how long personal data is kept (each proposal's page says when it goes).
    `service_delay_days`: working days within which staff answer (longer waits are overdue).
    `trusted_proxies`: reverse proxies whose X-Forwarded-For gives the client's address.
    `metrics_token` opens /metrics to `Authorization: Bearer <token>`; without it, 404.
    """
    if default_language not in LANGUAGES:
        raise ValueError(f"unknown default language {default_language!r}")
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
    app[SESSIONMAKER] = sessionmaker
    app[DEFAULT_LANGUAGE] = default_language
    app[THROTTLE] = throttle or LoginThrottle()
    app[SESSION_IDLE] = session_idle
    app[TRUSTED_PROXIES] = tuple(trusted_proxies)
    app[RETENTION] = retention
    app[SERVICE_DELAY] = service_delay_days
    app[ANNOUNCER] = announcer or Announcer(staff_language=default_language)
    if preview_url is not None:
        app.cleanup_ctx.append(_preview_client(preview_url))
    setup_session(
        app,
        SessionCookies(
            _fernet_key(secret_key),
            cookie_name=COOKIE_NAME,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=secure_cookie,
        ),
    )
    app.middlewares.append(csrf_middleware)
    app.middlewares.append(auth_middleware)
    app.middlewares.append(not_found_middleware)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )
    # Per-request gettext/ngettext come in each render's context (common.render); these
    # globals only set the "newstyle" mode and a fallback.
    # Added by Jinja2's i18n extension at run time, so its type stubs do not know it.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    app.on_response_prepare.append(_add_security_headers)
    add_export_routes(app)
    add_bulk_routes(app)
    add_preview_routes(app)
    add_api_routes(app)
    proposals.add_routes(app)
    add_catalogue_routes(app)
    add_account_routes(app)
    add_session_routes(app)
    add_queue_routes(app)
    add_assignment_rule_routes(app)
    add_saved_filter_routes(app)
    add_answer_template_routes(app)
    add_evaluation_routes(app)
    add_duplicate_routes(app)
    add_dashboard_routes(app)
    add_inbox_routes(app)
    add_outbox_routes(app)
    add_metrics_routes(app, metrics_token)
    add_coach_routes(app, bot_username)  # bot_username: coach invitations, staff Telegram links
    app.router.add_static("/static/", HERE / "static", name="static", append_version=False)
    return app
