"""Coach accounts in storage, on SQLite then PostgreSQL: invites, linking, follows, takes."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.runners.cli import main as intake
from bot.services.coach_alerts import enqueue_coach_alerts, load_alert, take_alert, write_digests
from storage.coaches import (
    COMMUNE,
    DIGEST,
    INITIATIVE,
    QUEUED,
    SENT,
    THEME,
    add_alert,
    alertable_coaches,
    all_coaches,
    coach_by_telegram,
    hash_token,
    invite_coach,
    link_coach,
    mark_delivered_alerts,
    record_not_relevant,
    remove_coach,
    revoke_invite,
    set_follow,
    take_proposal,
)
from storage.database import create_sessionmaker
from storage.models import (
    Coach,
    CoachAlert,
    CoachFollow,
    CoachInvite,
    Initiative,
    OutboxMessage,
    Proposal,
)
from storage.outbox import enqueue, mark_sent
from storage.staff import add_staff
from tests.factories import make_citizen, make_proposal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(pg_or_sqlite: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(pg_or_sqlite)


async def invite(sessions: async_sessionmaker[AsyncSession], name: str = "Anne") -> str:
    async with sessions.begin() as session:
        _coach, token = await invite_coach(session, name, "nl", "staff@example.be", NOW)
    return token


async def test_the_token_is_stored_hashed(sessions: async_sessionmaker[AsyncSession]) -> None:
    token = await invite(sessions)
    assert len(token) >= 20 and len("coach-" + token) <= 64
    async with sessions() as session:
        [stored] = (await session.execute(select(CoachInvite))).scalars().all()
    assert stored.token_hash == hash_token(token) != token
    assert stored.expires_at == NOW + timedelta(days=7)
    assert stored.created_by == "staff@example.be"


async def test_an_invite_links_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    token = await invite(sessions)
    async with sessions.begin() as session:
        linked = await link_coach(session, token, 501, 501, NOW + timedelta(hours=1))
    assert linked.status == "linked" and linked.coach is not None
    assert (linked.coach.telegram_user_id, linked.coach.chat_id) == (501, 501)
    async with sessions.begin() as session:
        # the same person opening the link again: still linked, nothing changes
        again = await link_coach(session, token, 501, 501, NOW + timedelta(hours=2))
        assert again.status == "linked"
        # someone else: the invite is used
        other = await link_coach(session, token, 502, 502, NOW + timedelta(hours=2))
        assert (other.status, other.coach) == ("used", None)
        assert await coach_by_telegram(session, 502) is None
        coach = await coach_by_telegram(session, 501)
        assert coach is not None and coach.name == "Anne" and coach.linked_at is not None


@pytest.mark.parametrize(
    ("after", "status"),
    [(timedelta(days=6, hours=23), "linked"), (timedelta(days=7), "expired")],
)
async def test_an_invite_expires_after_seven_days(
    sessions: async_sessionmaker[AsyncSession], after: timedelta, status: str
) -> None:
    token = await invite(sessions)
    async with sessions.begin() as session:
        outcome = await link_coach(session, token, 501, 501, NOW + after)
    assert outcome.status == status
    async with sessions() as session:
        assert (await coach_by_telegram(session, 501) is not None) == (status == "linked")


async def test_unknown_revoked_and_removed(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        assert (await link_coach(session, "nope", 501, 501, NOW)).status == "unknown"
    token = await invite(sessions)
    async with sessions.begin() as session:
        [stored] = (await session.execute(select(CoachInvite))).scalars().all()
        assert await revoke_invite(session, stored.id, NOW)
        assert not await revoke_invite(session, stored.id, NOW)  # once
    async with sessions.begin() as session:
        assert (await link_coach(session, token, 501, 501, NOW)).status == "revoked"
    second = await invite(sessions, "Bert")
    async with sessions.begin() as session:
        assert (await link_coach(session, second, 503, 503, NOW)).status == "linked"
        coach = await coach_by_telegram(session, 503)
        assert coach is not None
        assert await remove_coach(session, coach.id, NOW)
    async with sessions() as session:
        assert await coach_by_telegram(session, 503) is None
        assert [c.name for c in await all_coaches(session)] == ["Anne"]
        removed = (await session.execute(select(Coach).where(Coach.name == "Bert"))).scalar_one()
        assert removed.removed_at is not None and removed.telegram_user_id is None


async def test_one_telegram_account_one_coach(sessions: async_sessionmaker[AsyncSession]) -> None:
    first, second = await invite(sessions, "Anne"), await invite(sessions, "Anne bis")
    async with sessions.begin() as session:
        assert (await link_coach(session, first, 501, 501, NOW)).status == "linked"
        outcome = await link_coach(session, second, 501, 501, NOW)
    assert outcome.status == "other_coach"
    assert outcome.coach is not None and outcome.coach.name == "Anne"


async def test_invalid_names_and_languages(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        with pytest.raises(ValueError, match="name"):
            await invite_coach(session, "   ", "fr", "x")
        with pytest.raises(ValueError, match="language"):
            await invite_coach(session, "Anne", "de", "x")


async def test_follows(sessions: async_sessionmaker[AsyncSession]) -> None:
    token = await invite(sessions)
    async with sessions.begin() as session:
        await link_coach(session, token, 501, 501, NOW)
        initiative = Initiative(external_id="x1", name="Compost Josaphat", themes=["compost"])
        session.add(initiative)
        await session.flush()
        coach = await coach_by_telegram(session, 501)
        assert coach is not None
        assert await set_follow(session, coach, THEME, "compost", True)
        assert not await set_follow(session, coach, THEME, "compost", True)  # already
        assert await set_follow(session, coach, COMMUNE, "21015", True)
        assert await set_follow(session, coach, INITIATIVE, str(initiative.id), True)
        with pytest.raises(ValueError):
            await set_follow(session, coach, INITIATIVE, "999999", True)
        with pytest.raises(ValueError):
            await set_follow(session, coach, "street", "x", True)
    async with sessions.begin() as session:
        coach = await coach_by_telegram(session, 501)
        assert coach is not None
        assert coach.followed(THEME) == ["compost"]
        assert coach.followed(COMMUNE) == ["21015"]
        assert coach.followed(INITIATIVE) == [str(initiative.id)]
        assert await set_follow(session, coach, THEME, "compost", False)
        assert not await set_follow(session, coach, THEME, "compost", False)
    async with sessions.begin() as session:
        coach = await coach_by_telegram(session, 501)
        assert coach is not None and coach.followed(THEME) == []
        # an initiative that leaves the catalogue leaves the follows too
        await session.delete(await session.get(Initiative, initiative.id))
    async with sessions() as session:
        kinds = (await session.execute(select(CoachFollow.kind))).scalars().all()
        assert kinds == [COMMUNE]


async def test_alertable_coaches(sessions: async_sessionmaker[AsyncSession]) -> None:
    linked, _unlinked = await invite(sessions, "Anne"), await invite(sessions, "Bert")
    paused = await invite(sessions, "Carla")
    async with sessions.begin() as session:
        await link_coach(session, linked, 501, 501, NOW)
        await link_coach(session, paused, 503, 503, NOW)
        carla = await coach_by_telegram(session, 503)
        assert carla is not None
        carla.paused = True
    async with sessions() as session:
        assert [c.name for c in await alertable_coaches(session)] == ["Anne"]


async def _proposal(session: AsyncSession) -> int:
    citizen = await make_citizen(session, 42, "fr")
    proposal = await make_proposal(session, citizen, commune_refnis="21015", themes=["compost"])
    return proposal.id


async def test_first_take_wins_and_one_alert_per_coach(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first, second = await invite(sessions, "Anne"), await invite(sessions, "Bert")
    async with sessions.begin() as session:
        await link_coach(session, first, 501, 501, NOW)
        await link_coach(session, second, 502, 502, NOW)
        proposal_id = await _proposal(session)
    async with sessions.begin() as session:
        anne, bert = await coach_by_telegram(session, 501), await coach_by_telegram(session, 502)
        assert anne is not None and bert is not None
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        alert = await add_alert(session, anne, proposal, status=QUEUED, why={})
        assert alert is not None
        assert await add_alert(session, anne, proposal, status=QUEUED, why={}) is None
        take, won = await take_proposal(session, proposal_id, bert.id, NOW)
        assert won and take.coach.name == "Bert"
        take, won = await take_proposal(session, proposal_id, anne.id, NOW)
        assert not won and take.coach.name == "Bert"
        # queued → sent once the outbox message carrying it is sent
        await enqueue(session, kind="telegram", chat_id=501, payload={"text": "x"}, dedupe_key="a")
        row = (await session.execute(select(OutboxMessage))).scalar_one()
        alert.outbox_id = row.id
        await session.flush()
        assert await mark_delivered_alerts(session) == 0
        mark_sent(row, message_id=7)
        await session.flush()
        assert await mark_delivered_alerts(session) == 1
        await session.refresh(alert)
        assert alert.status == SENT


def test_the_invite_command_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No TELEGRAM_TOKEN: the link has a placeholder for the username, and says why."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("TELEGRAM_", "DATABASE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # what `main` sets, undone after the test
    assert intake(["coach", "invite", "Anne Dupont", "--language", "nl"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("https://t.me/<bot username>?start=coach-")
    token = out.strip().rsplit("coach-", 1)[1]
    assert "TELEGRAM_TOKEN is not set" in err and f"/start coach-{token}" in err
    assert intake(["coach", "invite", "  ", "--language", "nl"]) == 2


# ------------------------------------------------------------------ the back-office page

SECRET = b"0123456789abcdef0123456789abcdef"
ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"https://t\.me/([^?\s\"]+)\?start=coach-([A-Za-z0-9_-]+)")
# aiohttp-session stores its state under string request keys
# (see tests/backoffice/test_backoffice.py)
backoffice = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)


@pytest.fixture
async def staffed(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "en")
    return sessions


async def signed_in(
    sessions: async_sessionmaker[AsyncSession], who: tuple[str, str], username: str | None
) -> TestClient[object, object]:
    async def bot_username() -> str | None:
        return username

    app = create_app(sessions, secret_key=SECRET, default_language="en", bot_username=bot_username)
    client: TestClient[object, object] = TestClient(TestServer(app))
    await client.start_server()
    token = await csrf(client, "/login")
    response = await client.post(
        "/login",
        data={"email": who[0], "password": who[1], "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    return client


async def csrf(client: TestClient[object, object], path: str = "/coaches") -> str:
    response = await client.get(path)
    match = CSRF_RE.search(await response.text())
    assert match is not None
    return match.group(1)


@backoffice
async def test_a_reviewer_invites_a_coach_and_sees_the_link_once(
    staffed: async_sessionmaker[AsyncSession],
) -> None:
    client = await signed_in(staffed, REVIEWER, "intake_test_bot")
    try:
        response = await client.post(
            "/coaches/invite",
            data={
                "name": "Anne <b>Peeters</b>",
                "language": "nl",
                "csrf_token": await csrf(client),
            },
        )
        body = await response.text()
        assert response.status == 200 and response.url.path == "/coaches"
        link = LINK_RE.search(body)
        assert link is not None and link.group(1) == "intake_test_bot"
        assert "Anne &lt;b&gt;Peeters&lt;/b&gt;" in body and "<b>Peeters" not in body
        assert "not linked yet" in body
        again = await (await client.get("/coaches")).text()
        assert LINK_RE.search(again) is None  # shown once
        # the link works in the bot
        async with staffed.begin() as session:
            outcome = await link_coach(session, link.group(2), 601, 601)
        assert outcome.status == "linked"
        assert "linked on" in await (await client.get("/coaches")).text()
        # a reviewer does not revoke or remove
        response = await client.post(
            f"/coaches/{outcome.coach.id if outcome.coach else 0}/remove",
            data={"csrf_token": await csrf(client)},
        )
        assert response.status == 403
        response = await client.post(
            "/coaches/invite",
            data={"name": " ", "language": "nl", "csrf_token": await csrf(client)},
        )
        assert response.status == 400
    finally:
        await client.close()


@backoffice
async def test_an_admin_revokes_and_removes(staffed: async_sessionmaker[AsyncSession]) -> None:
    client = await signed_in(staffed, ADMIN, None)
    try:
        response = await client.post(
            "/coaches/invite",
            data={"name": "Bert", "language": "fr", "csrf_token": await csrf(client)},
        )
        body = await response.text()
        assert "https://t.me/&lt;bot username&gt;?start=coach-" in body  # username unknown
        token = re.search(r"/start coach-([A-Za-z0-9_-]+)", body)
        assert token is not None
        async with staffed() as session:
            invite_id = (await session.execute(select(CoachInvite.id))).scalar_one()
            coach_id = (await session.execute(select(Coach.id))).scalar_one()
        response = await client.post(
            f"/coaches/invites/{invite_id}/revoke", data={"csrf_token": await csrf(client)}
        )
        assert response.status == 200 and "link no longer works" in await response.text()
        async with staffed.begin() as session:
            assert (await link_coach(session, token.group(1), 602, 602)).status == "revoked"
        # a new link for the same coach
        response = await client.post(
            f"/coaches/{coach_id}/invite", data={"csrf_token": await csrf(client)}
        )
        fresh = re.search(r"/start coach-([A-Za-z0-9_-]+)", await response.text())
        assert fresh is not None and fresh.group(1) != token.group(1)
        response = await client.post(
            f"/coaches/{coach_id}/remove", data={"csrf_token": await csrf(client)}
        )
        body = await response.text()
        assert "The coach was removed" in body and "Bert" not in body.split("<h1>", 1)[1]
        async with staffed.begin() as session:
            assert (await link_coach(session, fresh.group(1), 602, 602)).status == "revoked"
    finally:
        await client.close()


@backoffice
async def test_feedback_is_shown_to_the_staff(staffed: async_sessionmaker[AsyncSession]) -> None:
    token = await invite(staffed, "Carla")
    async with staffed.begin() as session:
        outcome = await link_coach(session, token, 603, 603, NOW)
        assert outcome.coach is not None
        proposal = await session.get(Proposal, await _proposal(session))
        assert proposal is not None
        alert = await add_alert(session, outcome.coach, proposal, status=QUEUED, why={})
        assert alert is not None
        record_not_relevant(alert)
        await take_proposal(session, proposal.id, outcome.coach.id)
        reference = proposal.reference
    client = await signed_in(staffed, REVIEWER, "intake_test_bot")
    try:
        body = await (await client.get(f"/proposals/{reference}")).text()
        coaches = body.split('id="coaches"', 1)[1].split("</section>", 1)[0]
        assert "Carla" in coaches and "not relevant (" in coaches and "took it" in coaches
        assert "Taken in hand by the coach Carla" in coaches
        listing = await (await client.get("/coaches")).text()
        feedback = listing.split('id="feedback"', 1)[1]
        assert reference in feedback and "Carla" in feedback
    finally:
        await client.close()


async def test_alerts_digests_and_takes_on_both_databases(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The queries of bot.services.coach_alerts (row locks, ON CONFLICT, JSON) on each backend."""
    tokens = [await invite(sessions, name) for name in ("Anne", "Bert")]
    async with sessions.begin() as session:
        for number, token in enumerate(tokens):
            outcome = await link_coach(session, token, 700 + number, 700 + number, NOW)
            assert outcome.coach is not None
            await set_follow(session, outcome.coach, THEME, "compost", True)
            if number == 0:
                outcome.coach.mode = DIGEST
        proposal = await session.get(Proposal, await _proposal(session))
        assert proposal is not None
        assert await enqueue_coach_alerts(session, proposal, threshold=0.35, now=NOW) == 2
    async with sessions.begin() as session:
        assert await write_digests(session, NOW + timedelta(days=1)) == 1
        assert await write_digests(session, NOW + timedelta(days=1)) == 0
    async with sessions.begin() as session:
        _anne, bert = (await session.execute(select(CoachAlert).order_by(CoachAlert.id))).scalars()
        alert = await load_alert(session, bert.id)
        assert alert is not None and (await take_alert(session, alert, NOW)).won
    async with sessions() as session:
        kinds = await session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id))
        assert kinds.scalars().all() == ["telegram", "telegram", "telegram_edit"]
