"""The retention job on SQLite and PostgreSQL: idle drafts go, decided proposals lose their
personal data after the period, open and recent ones keep it, and a citizen with nothing
left is forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import selectinload

from bot.services.announcements import Announcer
from bot.services.retention import retention_round
from bot.services.review import review_key
from storage.database import create_sessionmaker
from storage.models import Citizen, Conversation, OutboxMessage, Proposal, ProposalEvent
from storage.outbox import enqueue
from storage.retention import RetentionPolicy, decided_at
from tests.factories import make_citizen, make_proposal

NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)
POLICY = RetentionPolicy(drafts=timedelta(days=90), decided=timedelta(days=365))
CONTACT = {
    "contact_name": "Jan Peeters",
    "contact_phone": "+32470123456",
    "consent_contact": True,
    "consent_share": True,
}


async def test_retention_round(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    long_ago, lately = NOW - timedelta(days=400), NOW - timedelta(days=10)
    async with sessions.begin() as session:
        jan = await make_citizen(session, 501, "nl")
        old = await make_proposal(session, jan, now=long_ago, title="Oud", **CONTACT)
        recent = await make_proposal(session, jan, now=long_ago, title="Recent", **CONTACT)
        await make_proposal(session, jan, now=long_ago, title="Open", **CONTACT)
        lone = await make_citizen(session, 502, "fr")
        alone = await make_proposal(session, lone, now=long_ago, title="Seul", **CONTACT)
        for proposal, status, when in [
            (old, "rejected", long_ago),
            (recent, "accepted", lately),
            (alone, "withdrawn", long_ago),
        ]:
            proposal.status = status
            session.add(
                ProposalEvent(
                    proposal_id=proposal.id,
                    created_at=when,
                    actor="x",
                    kind="status",
                    to_status=status,
                )
            )
        reply = ProposalEvent(
            proposal_id=old.id,
            created_at=long_ago,
            actor="citizen",
            kind="reply",
            text="Bel me op 0470 12 34 56",
        )
        note = ProposalEvent(
            proposal_id=old.id,
            created_at=long_ago,
            actor="x",
            kind="note",
            text="Jan Peeters belde, 0470/12.34.56",
        )
        session.add_all([reply, note])
        await session.flush()
        await enqueue(
            session,
            kind="telegram",
            chat_id=501,
            payload={"text": "Uw voorstel Oud"},
            dedupe_key=review_key(reply.id),
            now=long_ago,
        )
        await enqueue(
            session,
            kind="telegram",
            chat_id=501,
            payload={"text": "Uw voorstel Recent"},
            dedupe_key="review:other",
            now=long_ago,
        )
        session.add(Conversation(chat_id=501, citizen_id=jan.id, draft={"title": "x"}))
        session.add(Conversation(chat_id=503, draft={"title": "verlaten"}))
    async with sessions.begin() as session:
        for conversation in (await session.execute(select(Conversation))).scalars():
            conversation.updated_at = lately if conversation.chat_id == 501 else long_ago

    report = await retention_round(sessions, POLICY, Announcer(webhook=True), NOW)

    assert (report.conversations, report.proposals, report.citizens) == (1, 2, 1)
    async with sessions() as session:
        by_title = {
            p.title: p
            for p in (
                await session.execute(select(Proposal).options(selectinload(Proposal.events)))
            ).scalars()
        }
        citizens = set((await session.execute(select(Citizen.telegram_user_id))).scalars())
        chats = set((await session.execute(select(Conversation.chat_id))).scalars())
        outbox = list((await session.execute(select(OutboxMessage))).scalars())
    assert citizens == {501} and chats == {501}
    for title in ("Oud", "Seul"):
        gone = by_title[title]
        assert gone.anonymised_at == NOW and gone.contact_name is None
        assert gone.citizen_id is None and gone.submission_key.startswith("erased-")
        assert gone.events[-1].kind == "anonymised" and gone.events[-1].actor == "retention"
    texts = {e.kind: e.text for e in by_title["Oud"].events}
    assert texts["reply"] is None and texts["note"] == "[…] belde, […]"
    for title in ("Recent", "Open"):
        kept = by_title[title]
        assert kept.contact_name == "Jan Peeters" and kept.citizen_id is not None
    assert decided_at(by_title["Recent"]) == NOW - timedelta(days=10)
    assert decided_at(by_title["Open"]) is None
    assert {m.dedupe_key for m in outbox if m.kind == "telegram"} == {"review:other"}
    pushed = sorted(m.dedupe_key for m in outbox if m.kind == "webhook")
    assert pushed == [f"webhook:anonymised:{by_title[t].id}" for t in ("Oud", "Seul")]

    again = await retention_round(sessions, POLICY, Announcer(webhook=True), NOW)
    assert (again.conversations, again.proposals, again.citizens) == (0, 0, 0)
