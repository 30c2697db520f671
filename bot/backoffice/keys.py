"""Every key of the back-office's application and requests, in one leaf module.

Handlers, middlewares and `create_app` find what the app holds through these typed keys
(aiohttp's `web.AppKey` and `web.RequestKey`); keeping them here lets any module of the
back-office use them without importing another page's module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backoffice.auth import IPNetwork, LoginThrottle
from bot.emulator.client import EmulatorClient
from bot.services.announcements import Announcer
from bot.services.sentence_vectors import BackgroundVectors
from bot.text.i18n import Translator
from storage.models import StaffUser
from storage.retention import RetentionPolicy

BotUsername = Callable[[], Awaitable[str | None]]
"""Asks the Bot API for the bot's username (for coach invitation links); None if unknown."""

SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
THROTTLE = web.AppKey("throttle", LoginThrottle)
SESSION_IDLE = web.AppKey("session_idle", timedelta)
"""Signed-in sessions unused this long end."""
RETENTION = web.AppKey("retention", RetentionPolicy)
"""How long personal data is kept (shown on each proposal's page)."""
SERVICE_DELAY = web.AppKey("service_delay", int)
"""Working days within which staff answer; a longer wait is overdue."""
TRUSTED_PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("trusted_proxies")
"""Reverse proxies whose X-Forwarded-For header is believed."""
DEFAULT_LANGUAGE = web.AppKey("default_language", str)
ANNOUNCER = web.AppKey("announcer", Announcer)
METRICS_TOKEN = web.AppKey("metrics_token", str)
PREVIEW_CLIENT = web.AppKey("preview_client", EmulatorClient)
BOT_USERNAME: web.AppKey[BotUsername] = web.AppKey("bot_username")
SENTENCE_VECTORS = web.AppKey("sentence_vectors", BackgroundVectors)
"""Computes the sentence vectors of uploaded initiatives after the upload has answered."""

STAFF = web.RequestKey("staff", StaffUser)
STAFF_SESSION = web.RequestKey("staff_session", int)
"""The id of the signed-in session the request belongs to."""
TRANSLATOR = web.RequestKey("translator", Translator)
NEW_ASSIGNMENTS = web.RequestKey("new_assignments", int)
"""How many open proposals were given to the signed-in staff member and not opened yet
(read with the session, so that a page never needs a second database connection)."""
