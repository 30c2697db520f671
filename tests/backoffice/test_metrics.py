"""/metrics: Prometheus text behind a bearer token, off without one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.runners.process import start_web
from bot.runners.settings import Settings
from storage.database import create_sessionmaker
from storage.models import InboxUpdate, OutboxMessage
from storage.staff import add_staff
from tests.clock import TEST_NOW
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

TOKEN = "metrics-token-0123456789"
SECRET = b"m" * 32
STAFF = ("staff@example.brussels", "a long enough passphrase")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NOW = TEST_NOW

Client = TestClient[Any, Any]


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        await add_staff(session, STAFF[0], hash_password(STAFF[1]), "admin", "en")
        citizen = await make_citizen(session, 99, "fr")
        for number, is_test in enumerate([False, False, False, True]):
            proposal = await make_proposal(session, citizen, is_test=is_test)
            if number == 0:
                proposal.status = "in_review"

        def message(key: str, status: str, age: timedelta, error: str | None = None) -> None:
            session.add(
                OutboxMessage(
                    kind="telegram",
                    chat_id=1,
                    payload={},
                    dedupe_key=key,
                    status=status,
                    attempts=1,
                    next_attempt_at=NOW,
                    created_at=NOW - age,
                    last_error=error,
                )
            )

        message("old", "pending", timedelta(minutes=10), "Timed out")
        message("new", "pending", timedelta(minutes=1))
        message("in-flight", "sending", timedelta(minutes=20))
        message("sent-1", "sent", timedelta(hours=1))
        message("sent-2", "sent", timedelta(hours=1))
        message("sent-3", "sent", timedelta(hours=1))
        message("dead", "dead", timedelta(days=1), "Forbidden")
        for update_id, status, attempts in [
            (1, "pending", 0),
            (2, "pending", 3),
            (3, "processing", 1),
            (4, "done", 1),
            (5, "parked", 8),
        ]:
            session.add(
                InboxUpdate(
                    bot_id=7,
                    update_id=update_id,
                    chat_id=1,
                    status=status,
                    attempts=attempts,
                    next_attempt_at=NOW,
                    received_at=NOW - timedelta(minutes=update_id),
                )
            )
    return sessions


@pytest.fixture
async def client(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    app = create_app(sessions, secret_key=SECRET, metrics_token=TOKEN)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_gauges(client: Client) -> None:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await response.text()
    assert "# TYPE intake_outbox_messages gauge" in text
    values = samples(text)
    outbox = {
        status: values[("intake_outbox_messages", (("status", status),))]
        for status in ("pending", "sending", "sent", "dead")
    }
    assert outbox == {"pending": 2, "sending": 1, "sent": 3, "dead": 1}
    assert values[("intake_outbox_failed_messages", ())] == 1
    assert values[("intake_outbox_dead_messages", ())] == 1
    # The oldest pending row is ten minutes old (the "sending" one is not waiting).
    assert 600 <= values[("intake_outbox_oldest_pending_age_seconds", ())] < 3600
    proposals = {
        dict(labels)["status"]: value
        for (name, labels), value in values.items()
        if name == "intake_proposals"
    }
    assert proposals["submitted"] == 2 and proposals["in_review"] == 1  # the test one left out
    assert sum(proposals.values()) == 3 and len(proposals) == 6
    inbox = {
        status: values[("intake_inbox_updates", (("status", status),))]
        for status in ("pending", "processing", "done", "parked")
    }
    assert inbox == {"pending": 2, "processing": 1, "done": 1, "parked": 1}
    assert values[("intake_inbox_retrying_updates", ())] == 1
    assert values[("intake_inbox_parked_updates", ())] == 1
    # the oldest unfinished update (3, processing) arrived three minutes ago
    assert 180 <= values[("intake_inbox_oldest_pending_age_seconds", ())] < 240


async def test_openmetrics_when_asked(client: Client) -> None:
    response = await client.get(
        "/metrics",
        headers={
            "Authorization": f"bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).endswith("# EOF\n")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"],
)
async def test_refused_without_the_right_token(client: Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get("/metrics", headers=headers, allow_redirects=False)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "intake_" not in await response.text()


async def test_a_staff_session_is_not_a_token(client: Client) -> None:
    page = await (await client.get("/login")).text()
    match = CSRF_RE.search(page)
    assert match
    signed_in = await client.post(
        "/login",
        data={"email": STAFF[0], "password": STAFF[1], "csrf_token": match.group(1)},
        allow_redirects=False,
    )
    assert signed_in.status == 303
    assert (await client.get("/")).status == 200
    assert (await client.get("/metrics", allow_redirects=False)).status == 401


@pytest.mark.parametrize("token", [None, ""])
async def test_off_without_a_configured_token(
    sessions: async_sessionmaker[AsyncSession], token: str | None
) -> None:
    app = create_app(sessions, secret_key=SECRET, metrics_token=token)
    async with TestClient(TestServer(app)) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
            response = await client.get("/metrics", headers=headers, allow_redirects=False)
            assert response.status == 404


async def test_start_web_passes_the_setting(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        web_port=0,
        secret_key="s" * 32,
        metrics_token=TOKEN,
    )
    runner = await start_web(settings, sessions)
    try:
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as http:
            url = f"http://{host}:{port}/metrics"
            async with http.get(url) as refused:
                assert refused.status == 401
            async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
                assert answer.status == 200
                assert "intake_outbox_dead_messages 1.0" in await answer.text()
    finally:
        await runner.cleanup()
