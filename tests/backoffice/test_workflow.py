"""The review workflow: staff decisions, the answer queued for the citizen, and the
citizen's reply when the staff need more information."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.services.announcements import Announcer
from bot.services.review import apply_review
from bot.text.i18n import Translator
from storage.clock import utcnow
from storage.database import create_sessionmaker
from storage.models import OutboxMessage, Proposal, ProposalEvent
from storage.proposals import erase_citizen
from storage.staff import add_staff
from storage.workflow import TransitionError, attach_citizen_reply, review
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STAFF = ("reviewer@example.brussels", "a long enough passphrase")
CITIZEN = 6060


async def submitted(sessions: async_sessionmaker[AsyncSession], language: str = "nl") -> str:
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, CITIZEN, language)
        proposal = await make_proposal(
            session,
            citizen,
            language=language,
            title="Samentuin <Josaphat>",
            description="Een moestuin met de buren van de wijk.",
        )
        return proposal.reference


async def test_transitions_and_events(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    reference = await submitted(sessions)
    async with sessions() as session, session.begin():
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        events = await review(
            session,
            proposal,
            actor="a@b.be",
            to_status="needs_info",
            answer="Which street?",
            note="Check with the commune",
        )
        assert [e.kind for e in events] == ["status", "answer", "note"]
        assert (events[0].from_status, events[0].to_status) == ("submitted", "needs_info")
        with pytest.raises(TransitionError):
            await review(session, proposal, actor="a@b.be", to_status="withdrawn")
    async with sessions() as session, session.begin():
        replied = await attach_citizen_reply(session, CITIZEN, "Rue Josaphat 12")
        assert replied is not None and replied.status == "in_review"
        assert await attach_citizen_reply(session, CITIZEN, "again") is None
    async with sessions() as session:
        kinds = (
            (await session.execute(select(ProposalEvent.kind).order_by(ProposalEvent.id)))
            .scalars()
            .all()
        )
    assert kinds == ["status", "status", "answer", "note", "reply", "status"]


async def test_the_review_use_case_tells_the_citizen_and_the_others_in_one_transaction(
    pg_or_sqlite: AsyncEngine,
) -> None:
    """`apply_review` as any entry point calls it: the caller's transaction holds the events,
    the citizen's message and the push, or nothing at all when the change is refused."""
    sessions = create_sessionmaker(pg_or_sqlite)
    reference = await submitted(sessions, language="fr")
    announcer = Announcer(webhook=True)

    async def proposal(session: AsyncSession) -> Proposal:
        query = select(Proposal).where(Proposal.reference == reference)
        return (await session.execute(query)).scalar_one()

    async with sessions() as session, session.begin():
        events = await apply_review(
            session,
            announcer,
            await proposal(session),
            actor="a@b.be",
            to_status="needs_info",
            answer="Quelle rue ?",
            note="Voir avec la commune",
        )
    assert [e.kind for e in events] == ["status", "answer", "note"]
    rows = await outbox(pg_or_sqlite)
    assert sorted(row.kind for row in rows) == ["telegram", "webhook"]
    [message] = [row for row in rows if row.kind == "telegram"]
    assert message.chat_id == CITIZEN and message.dedupe_key == f"review:{events[0].id}"
    assert "Quelle rue ?" in message.payload["text"] and "commune" not in message.payload["text"]

    with pytest.raises(TransitionError):
        async with sessions() as session, session.begin():
            await apply_review(
                session, announcer, await proposal(session), actor="a@b.be", to_status="withdrawn"
            )
    assert len(await outbox(pg_or_sqlite)) == 2
    async with sessions() as session:
        assert (await proposal(session)).status == "needs_info"


@pytest.fixture
async def web(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    sessions = create_sessionmaker(engine)
    reference = await submitted(sessions)
    async with sessions() as session, session.begin():
        await add_staff(session, STAFF[0], hash_password(STAFF[1]), "reviewer", "en")
    app = create_app(
        sessions, secret_key=b"k" * 32, default_language="en", announcer=Announcer(webhook=True)
    )
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get("/login")).text()
        token = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
        response = await client.post(
            "/login",
            data={"email": STAFF[0], "password": STAFF[1], "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status == 303
        yield client, reference


async def csrf(client: TestClient[Any, Any], reference: str) -> str:
    page = await (await client.get(f"/proposals/{reference}")).text()
    assert 'action="/proposals/' in page
    return CSRF_RE.search(page).group(1)  # type: ignore[union-attr]


async def outbox(engine: AsyncEngine) -> list[OutboxMessage]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.execute(select(OutboxMessage))).scalars())


async def test_accepting_with_an_answer_queues_it_in_the_citizens_language(
    web: tuple[TestClient[Any, Any], str], engine: AsyncEngine
) -> None:
    client, reference = web
    response = await client.post(
        f"/proposals/{reference}/review",
        data={
            "csrf_token": await csrf(client, reference),
            "status": "accepted",
            "answer": "Proficiat! We nemen contact op.",
            "note": "budget ok",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    by_kind = {row.kind: row for row in await outbox(engine)}
    assert set(by_kind) == {"telegram", "webhook"}
    message, push = by_kind["telegram"], by_kind["webhook"]
    assert push.payload["body"]["change"]["from"] == "submitted"
    assert push.payload["body"]["change"]["to"] == "accepted"
    assert push.payload["body"]["change"]["by"] == STAFF[0]
    assert push.payload["body"]["proposal"]["status"] == "accepted"
    assert message.chat_id == CITIZEN
    text = message.payload["text"]
    assert reference in text and "aanvaard" in text and "Proficiat!" in text
    assert "&lt;Josaphat&gt;" in text and "budget ok" not in text  # notes are never sent
    page = await (await client.get(f"/proposals/{reference}")).text()
    assert "Proficiat!" in page and "budget ok" in page and STAFF[0] in page


async def test_a_note_alone_sends_nothing(
    web: tuple[TestClient[Any, Any], str], engine: AsyncEngine
) -> None:
    client, reference = web
    await client.post(
        f"/proposals/{reference}/review",
        data={"csrf_token": await csrf(client, reference), "note": "call on Monday"},
    )
    assert await outbox(engine) == []


async def test_review_refuses_bad_requests(
    web: tuple[TestClient[Any, Any], str], engine: AsyncEngine
) -> None:
    client, reference = web
    token = await csrf(client, reference)
    no_csrf = await client.post(f"/proposals/{reference}/review", data={"note": "x"})
    assert no_csrf.status == 403
    nothing = await client.post(f"/proposals/{reference}/review", data={"csrf_token": token})
    assert nothing.status == 400
    wrong = await client.post(
        f"/proposals/{reference}/review", data={"csrf_token": token, "status": "withdrawn"}
    )
    assert wrong.status == 400
    unknown = await client.post(
        "/proposals/BXL-1999-00001/review", data={"csrf_token": token, "note": "x"}
    )
    assert unknown.status == 404
    assert await outbox(engine) == []


async def test_the_citizens_next_message_answers_a_needs_info(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en", user_id=CITIZEN)
    await chat.send("/start")
    await chat.press(1)
    await chat.send("Samentuin in Josaphat")
    await chat.send("Een moestuin met de buren van de wijk, elke zaterdag.")
    await chat.press("whole region")
    await chat.press("individual")
    await chat.press("continue")
    await chat.choose("Sustainable food")
    await chat.press("Done")
    await chat.press("don't know")
    await chat.press("staff decide")
    await chat.press("Skip")
    await chat.press("Skip")
    await chat.press("No")
    await chat.press("Submit")
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        proposal = (await session.execute(select(Proposal))).scalar_one()
        await review(session, proposal, actor="staff", to_status="needs_info", answer="Where?")
    await chat.send("Next to the playground of the Josaphat park.")
    assert "your answer was added to proposal BXL-2026-00001" in chat.last_text()
    async with sessions() as session:
        reply = (
            await session.execute(select(ProposalEvent).where(ProposalEvent.kind == "reply"))
        ).scalar_one()
        proposal = (await session.execute(select(Proposal))).scalar_one()
    assert reply.text == "Next to the playground of the Josaphat park."
    assert proposal.status == "in_review"


async def test_no_answer_box_for_a_citizen_who_erased_their_data(
    web: tuple[TestClient[Any, Any], str], engine: AsyncEngine
) -> None:
    client, reference = web
    token = await csrf(client, reference)
    async with create_sessionmaker(engine).begin() as session:
        await erase_citizen(session, CITIZEN)
    page = await (await client.get(f"/proposals/{reference}")).text()
    assert 'id="citizen-erased"' in page and 'name="answer"' not in page
    assert 'name="note"' in page and 'name="status"' in page
    refused = await client.post(
        f"/proposals/{reference}/review", data={"csrf_token": token, "answer": "Bonjour"}
    )
    assert refused.status == 409
    assert "an answer cannot reach the citizen" in await refused.text()
    noted = await client.post(
        f"/proposals/{reference}/review",
        data={"csrf_token": token, "status": "in_review", "note": "dossier repris"},
        allow_redirects=False,
    )
    assert noted.status == 303
    assert [row.kind for row in await outbox(engine)] == ["webhook"]  # the status push only


async def test_staff_see_when_the_personal_data_goes(
    web: tuple[TestClient[Any, Any], str],
) -> None:
    client, reference = web
    page = await (await client.get(f"/proposals/{reference}")).text()
    assert "kept while the proposal is open, then 365 days after the decision" in page
    await client.post(
        f"/proposals/{reference}/review",
        data={"csrf_token": await csrf(client, reference), "status": "rejected"},
    )
    page = await (await client.get(f"/proposals/{reference}")).text()
    decided = utcnow() + timedelta(days=365)
    assert f"Personal data erased on {Translator('en').date(decided)}" in page
