"""The dashboard's charts and outbox panel, and the dead-letter page (/outbox), over HTTP."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from storage.database import create_sessionmaker
from storage.models import InboxUpdate, OutboxMessage
from storage.staff import add_staff
from tests.backoffice.support import OUR_SCRIPT
from tests.clock import TEST_NOW
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

SECRET = b"d" * 32
ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SVG_RE = re.compile(r"<svg .*?</svg>", re.DOTALL)
TOTAL_RE = re.compile(r'data-total="(\d+)"')
NS = {"svg": "http://www.w3.org/2000/svg"}
ODD_THEME = "<b>odd</b>"
ERROR = "Forbidden: <i>bot was blocked</i> by the user"
NOW = TEST_NOW

Client = TestClient[Any, Any]


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


def _message(key: str, status: str, **fields: Any) -> OutboxMessage:
    return OutboxMessage(
        kind="telegram",
        chat_id=4242,
        payload={"text": key},
        dedupe_key=key,
        status=status,
        attempts=fields.pop("attempts", 1),
        next_attempt_at=NOW,
        created_at=fields.pop("created_at", NOW - timedelta(days=1)),
        **fields,
    )


async def _fill(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "en")
        citizen = await make_citizen(session, 4242, "fr")
        rows: list[dict[str, Any]] = [
            {"themes": ["food", "compost"], "commune_refnis": "21004", "days": 1},
            {"themes": ["compost"], "commune_refnis": "21004", "days": 8},
            {"themes": ["culture"], "region_wide": True, "days": 15},
            {"themes": [ODD_THEME], "days": 200},
            {"themes": ["food"], "commune_refnis": "21013", "days": 0, "is_test": True},
        ]
        for number, row in enumerate(rows):
            days = row.pop("days")
            proposal = await make_proposal(
                session, citizen, now=NOW - timedelta(days=days), title=f"Projet {number}", **row
            )
            if number == 1:
                proposal.status = "accepted"
        session.add_all(
            [
                _message("review:1", "dead", attempts=8, last_error=ERROR),
                _message("review:2", "dead", attempts=3, last_error="Bad Request: chat not found"),
                _message(
                    "failing",
                    "pending",
                    last_error="Timed out",
                    created_at=NOW - timedelta(hours=5, minutes=1),
                ),
                _message("fresh", "pending", attempts=0, created_at=NOW - timedelta(hours=3)),
                _message("done", "sent", sent_at=NOW),
            ]
        )


async def _client(sessions: async_sessionmaker[AsyncSession]) -> Client:
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    return TestClient(TestServer(app))


@pytest.fixture
async def anonymous(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    await _fill(sessions)
    async with await _client(sessions) as client:
        yield client


async def sign_in(client: Client, who: tuple[str, str]) -> Client:
    token = await csrf(client, "/login")
    response = await client.post(
        "/login",
        data={"email": who[0], "password": who[1], "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    return client


@pytest.fixture
async def admin(anonymous: Client) -> Client:
    return await sign_in(anonymous, ADMIN)


@pytest.fixture
async def reviewer(anonymous: Client) -> Client:
    return await sign_in(anonymous, REVIEWER)


async def page(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, body
    return body


async def csrf(client: Client, path: str) -> str:
    match = CSRF_RE.search(await page(client, path))
    assert match
    return match.group(1)


def charts(body: str) -> dict[str, ET.Element]:
    """The dashboard's SVG charts by their section (status, week, theme, commune)."""
    found = {}
    for section in re.finditer(r'id="chart-(\w+)"(.*?)</section>', body, re.DOTALL):
        (svg,) = SVG_RE.findall(section.group(2))
        found[section.group(1)] = ET.fromstring(svg)
    return found


def bars(chart: ET.Element) -> list[tuple[str, int, str | None]]:
    """(label, value, link) of each bar."""
    result = []
    for item in chart.iterfind("svg:*[@class='item']", NS):
        texts = {node.get("class"): "".join(node.itertext()) for node in item.iter()}
        result.append((texts["label"], int(texts["value"]), item.get("href")))
    return result


def table(body: str, key: str) -> dict[str, str]:
    return dict(re.findall(rf'data-{key}="([^"]+)">([^<]*)<', body))


# ------------------------------------------------------------------ dashboard


async def test_four_charts_that_count_what_the_list_counts(admin: Client) -> None:
    body = await page(admin, "/dashboard")
    found = charts(body)
    assert list(found) == ["week", "status", "theme", "commune"]
    for chart in found.values():
        # A group, not an img: screen readers reach the bars' links (issue 14 §8).
        assert chart.get("role") == "group" and chart.get("aria-label")
        assert chart.findtext("svg:desc", namespaces=NS)
    assert ("accepted", 1, "/proposals?status=accepted") in bars(found["status"])
    status_bars = {label: value for label, value, _link in bars(found["status"])}
    assert status_bars["submitted"] == 3 and sum(status_bars.values()) == 4
    themes = {label: (value, link) for label, value, link in bars(found["theme"])}
    assert themes["Compost"] == (2, "/proposals?status=all&theme=compost")
    assert themes["Water"][0] == 0  # every known theme, even without proposals
    assert themes[ODD_THEME] == (1, None)  # an unknown theme has no filter to link to
    communes = {label: (value, link) for label, value, link in bars(found["commune"])}
    assert communes == {
        "City of Brussels": (2, "/proposals?status=all&commune=21004"),
        "Whole region": (1, None),
        "No commune given": (1, None),
    }
    weeks = bars(found["week"])
    assert len(weeks) == 12 and sum(value for _l, value, _h in weeks) == 3
    # Every link leads to a list of exactly as many proposals as its bar says.
    links = [(link, value) for chart in found.values() for _l, value, link in bars(chart) if link]
    assert len(links) > 20
    for link, value in links:
        match = TOTAL_RE.search(await page(admin, link))
        assert match and int(match.group(1)) == value, link
    assert "4 proposals in all" in body


async def test_tables_give_the_same_numbers(admin: Client) -> None:
    body = await page(admin, "/dashboard")
    assert table(body, "status")["accepted"] == "1"
    assert table(body, "status")["submitted"] == "3"
    assert table(body, "theme")["compost"] == "2"
    assert table(body, "commune") == {"21004": "2", "region": "1", "none": "1"}
    week_table = table(body, "week")
    assert len(week_table) == 12 and sum(map(int, week_table.values())) == 3
    assert body.count("<table>") == 4 and body.count("<summary>") == 4


async def test_labels_are_escaped_and_no_inline_style(admin: Client) -> None:
    for path in ("/dashboard", "/outbox"):
        body = await page(admin, path)
        assert ODD_THEME not in body and "<i>" not in body
        assert (
            "<script" not in body.replace(OUR_SCRIPT, "")
            and "<style" not in body
            and " style=" not in body
        )
    assert "&lt;b&gt;odd&lt;/b&gt;" in await page(admin, "/dashboard")


async def test_outbox_panel(admin: Client) -> None:
    body = await page(admin, "/dashboard")
    figures = table(body, "outbox")
    assert figures["pending"] == "2"
    assert figures["oldest"] == "5 hours"
    assert figures["sent"] == "1"
    assert figures["failed"] == "1"
    assert 'data-outbox="dead"><a href="/outbox">2</a>' in body


async def test_an_empty_database_says_so(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
    async with await _client(sessions) as client:
        body = await page(await sign_in(client, ADMIN), "/dashboard")
    assert body.count("No proposal yet.") == 8  # in each chart's text and description
    assert all(bars(chart) == [] for chart in charts(body).values())
    assert table(body, "outbox")["oldest"] == "—"


async def test_the_dashboard_speaks_the_staff_members_language(admin: Client) -> None:
    token = await csrf(admin, "/dashboard")
    await admin.post("/language", data={"csrf_token": token, "language": "fr", "next": "/"})
    body = await page(admin, "/dashboard")
    communes = {label for label, _v, _h in bars(charts(body)["commune"])}
    assert "Bruxelles-Ville" in communes
    assert table(body, "outbox")["oldest"] == "5\xa0heures"


# ------------------------------------------------------------------ dead letters


async def test_outbox_needs_a_signed_in_user(anonymous: Client) -> None:
    response = await anonymous.get("/outbox", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    token = await csrf(anonymous, "/login")
    for path in ("/outbox/1/retry", "/outbox/retry-all"):
        response = await anonymous.post(path, data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 401


async def test_dead_letters_are_listed_with_their_error(reviewer: Client) -> None:
    body = await page(reviewer, "/outbox")
    assert 'data-total="2"' in body
    assert "Forbidden: &lt;i&gt;bot was blocked&lt;/i&gt; by the user" in body
    assert "Bad Request: chat not found" in body
    assert body.index("review:2") < body.index("review:1")  # newest first (same age: by id)
    assert "Timed out" not in body  # failing but not dead
    assert body.count('action="/outbox/') == 2  # one retry button each, no "retry all"
    assert 'href="/outbox" aria-current="page"' in body


async def _status(sessions: async_sessionmaker[AsyncSession], key: str) -> tuple[str, int]:
    async with sessions() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
        ).scalar_one()
        return row.status, row.attempts


async def _dead_id(sessions: async_sessionmaker[AsyncSession], key: str) -> int:
    async with sessions() as session:
        return (
            await session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
        ).scalar_one()


async def test_anyone_signed_in_retries_one(
    reviewer: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    message_id = await _dead_id(sessions, "review:1")
    path = f"/outbox/{message_id}/retry"
    refused = await reviewer.post(path, data={}, allow_redirects=False)
    assert refused.status == 403
    assert await _status(sessions, "review:1") == ("dead", 8)
    token = await csrf(reviewer, "/outbox")
    response = await reviewer.post(path, data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/outbox?retried=1"
    assert await _status(sessions, "review:1") == ("pending", 0)
    assert await _status(sessions, "review:2") == ("dead", 3)
    body = await page(reviewer, response.headers["Location"])
    assert "1 message was put back in the queue." in body
    assert 'data-total="1"' in body
    again = await reviewer.post(path, data={"csrf_token": token}, allow_redirects=False)
    assert again.headers["Location"] == "/outbox?retried=0"
    assert "the message is no longer dead" in await page(reviewer, "/outbox?retried=0")
    missing = await reviewer.post(
        "/outbox/999999/retry", data={"csrf_token": token}, allow_redirects=False
    )
    assert missing.headers["Location"] == "/outbox?retried=0"


async def test_only_admins_retry_all(
    anonymous: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reviewer = await sign_in(anonymous, REVIEWER)
    token = await csrf(reviewer, "/outbox")
    refused = await reviewer.post("/outbox/retry-all", data={"csrf_token": token})
    assert refused.status == 403
    assert await _status(sessions, "review:2") == ("dead", 3)
    await reviewer.post("/logout", data={"csrf_token": token})
    admin = await sign_in(anonymous, ADMIN)
    body = await page(admin, "/outbox")
    assert 'action="/outbox/retry-all"' in body
    token = await csrf(admin, "/outbox")
    response = await admin.post(
        "/outbox/retry-all", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.headers["Location"] == "/outbox?retried=2"
    assert await _status(sessions, "review:1") == ("pending", 0)
    assert await _status(sessions, "review:2") == ("pending", 0)
    assert await _status(sessions, "done") == ("sent", 1)
    body = await page(admin, "/outbox?retried=2")
    assert "2 messages were put back in the queue." in body
    assert 'data-total="0"' in body and "No dead message" in body


async def test_dead_letters_by_pages(
    reviewer: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        session.add_all(_message(f"bulk:{n:02d}", "dead", last_error="x") for n in range(50))
    first = await page(reviewer, "/outbox")
    second = await page(reviewer, "/outbox?page=2")
    beyond = await page(reviewer, "/outbox?page=9")
    absurd = await page(reviewer, "/outbox?page=99999999999999999999")  # no page: the first
    assert first.count('action="/outbox/') == 50 and 'href="/outbox?page=2"' in first
    assert second.count('action="/outbox/') == 2 and 'href="/outbox"' in second
    assert "page 2 of 2" in second
    assert "page 2 of 2" in beyond and beyond.count('action="/outbox/') == 2
    assert "page 1 of 2" in absurd and absurd.count('action="/outbox/') == 50


# ------------------------------------------------------------------ incoming messages


def _update(update_id: int, status: str, **fields: Any) -> InboxUpdate:
    return InboxUpdate(
        bot_id=BOT_ID,
        update_id=update_id,
        chat_id=4242,
        status=status,
        attempts=fields.pop("attempts", 1),
        next_attempt_at=NOW,
        received_at=fields.pop("received_at", NOW - timedelta(minutes=2)),
        **fields,
    )


BOT_ID = 424242
PARKED_TEXT = "Un <b>potager</b> rue Royale"


async def _fill_inbox(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        session.add_all(
            [
                _update(1, "done", payload=None, done_at=NOW),
                _update(
                    2,
                    "parked",
                    attempts=8,
                    payload={"update_id": 2, "message": {"text": PARKED_TEXT}},
                    last_error="OperationalError: <db> gone",
                ),
                _update(3, "pending", attempts=0, received_at=NOW - timedelta(hours=2)),
                _update(4, "pending", attempts=2, payload={"update_id": 4}),
                _update(5, "processing", payload={"update_id": 5, "callback_query": {}}),
            ]
        )


async def test_the_incoming_panel_and_the_messages_the_bot_could_not_handle(
    reviewer: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _fill_inbox(sessions)
    figures = table(await page(reviewer, "/dashboard"), "inbox")
    assert figures["waiting"] == "3" and figures["retrying"] == "1"
    assert figures["oldest"] == "2 hours"
    body = await page(reviewer, "/inbox")
    assert 'href="/inbox" aria-current="page"' in body
    assert "Un &lt;b&gt;potager&lt;/b&gt; rue Royale" in body and PARKED_TEXT not in body
    assert "OperationalError: &lt;db&gt; gone" in body
    assert body.count('action="/inbox/') == 1  # one retry button, for the parked update

    path = f"/inbox/{BOT_ID}/2/retry"
    assert (await reviewer.post(path, data={}, allow_redirects=False)).status == 403  # no CSRF
    token = await csrf(reviewer, "/inbox")
    response = await reviewer.post(path, data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/inbox?retried=1"
    async with sessions() as session:
        retried = await session.get(InboxUpdate, (BOT_ID, 2))
        assert retried is not None and (retried.status, retried.attempts) == ("pending", 0)
    assert "handles it again now" in await page(reviewer, "/inbox?retried=1")
    again = await reviewer.post(path, data={"csrf_token": token}, allow_redirects=False)
    assert again.headers["Location"] == "/inbox?retried=0"
    assert "None: every message was handled" in await page(reviewer, "/inbox")


async def test_the_incoming_page_in_french(
    admin: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _fill_inbox(sessions)
    token = await csrf(admin, "/dashboard")
    await admin.post("/language", data={"csrf_token": token, "language": "fr", "next": "/"})
    body = await page(admin, "/inbox")
    assert "Messages que le bot n’a pas pu traiter" in body
    assert table(body, "inbox")["oldest"] == "2\xa0heures"
