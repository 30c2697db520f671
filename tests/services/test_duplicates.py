"""Marking a duplicate as a use case (bot.services.duplicates): the citizen of the duplicate
is told through the outbox in their language, pointed to the original with a button to ask
to join it, and nothing about the other citizen; nothing is queued twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.services.duplicates import ask_to_join, join_data, mark_as_duplicate
from storage.database import create_sessionmaker
from storage.duplicates import DuplicateError, unmark_duplicate
from storage.models import OutboxMessage, Proposal
from storage.proposals import erase_citizen
from tests.factories import make_citizen, make_proposal

STAFF = "anna@example.brussels"


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(rows.scalars())


async def pair(
    sessions: async_sessionmaker[AsyncSession], language: str
) -> tuple[Proposal, Proposal]:
    """An original by Marie (her contact details given) and a duplicate by citizen 7007."""
    async with sessions() as session, session.begin():
        original = await make_proposal(
            session,
            title="Un potager au parc Josaphat",
            contact_name="Marie Dupont",
            contact_email="marie@example.be",
            contact_phone="+32470123456",
        )
        citizen = await make_citizen(session, 7007, language)
        duplicate = await make_proposal(
            session, citizen, language=language, title="Moestuin <Josaphat>"
        )
        return original, duplicate


@pytest.mark.parametrize(
    ("language", "words", "button"),
    [
        (
            "fr",
            ["À propos de votre proposition", "L’équipe", "demandez à la rejoindre"],
            "🤝 Rejoindre cette proposition",
        ),
        (
            "nl",
            ["Over je voorstel", "de medewerkers", "Vraag dan om aan te sluiten"],
            "🤝 Aansluiten bij dit voorstel",
        ),
    ],
)
async def test_the_citizen_is_told_in_their_language_with_the_button(
    sessions: async_sessionmaker[AsyncSession], language: str, words: list[str], button: str
) -> None:
    original, duplicate = await pair(sessions, language)
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        found = await mark_as_duplicate(session, proposal, original.reference, actor=STAFF)
        assert found.id == original.id
    [message] = await outbox(sessions)
    assert (message.kind, message.chat_id) == ("telegram", 7007)
    text = message.payload["text"]
    for word in words:
        assert word in text, (word, text)
    assert duplicate.reference in text and "Moestuin &lt;Josaphat&gt;" in text  # escaped
    assert original.reference in text and "Un potager au parc Josaphat" in text
    for personal in ("Marie", "marie@example.be", "470"):
        assert personal not in text
    assert message.payload["buttons"] == [
        [{"text": button, "callback_data": join_data(duplicate.id, original.id)}]
    ]
    assert len(join_data(duplicate.id, original.id).encode()) <= 64


async def test_nothing_is_queued_twice_or_for_an_erased_citizen(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    original, duplicate = await pair(sessions, "fr")
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        await mark_as_duplicate(session, proposal, original.reference, actor=STAFF)
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        with pytest.raises(DuplicateError):  # already one: refused, nothing queued
            await mark_as_duplicate(session, proposal, original.reference, actor=STAFF)
    assert len(await outbox(sessions)) == 1
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        await unmark_duplicate(session, proposal, actor=STAFF)
        await erase_citizen(session, 7007)
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        await mark_as_duplicate(session, proposal, original.reference, actor=STAFF)
    assert await outbox(sessions) == []  # erasure forgot the first; nobody to tell now


async def test_the_press_is_answered_in_the_citizens_language(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    original, duplicate = await pair(sessions, "nl")
    data = join_data(duplicate.id, original.id)
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        await mark_as_duplicate(session, proposal, original.reference, actor=STAFF)
        first = await ask_to_join(session, 7007, data, "nl")
        again = await ask_to_join(session, 7007, data, "nl")
        stranger = await ask_to_join(session, 7008, data, "nl")
        forged = await ask_to_join(session, 7007, "dupjoin:x:1", "nl")
    assert first.toast == "Verzoek verstuurd."
    assert first.text is not None and original.reference in first.text
    assert "brengen je in contact" in first.text
    assert again.text is None and "al gevraagd" in again.toast
    assert stranger.text is None and forged.text is None
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, duplicate.id)
        assert proposal is not None
        await unmark_duplicate(session, proposal, actor=STAFF)
        late = await ask_to_join(session, 7007, data, "fr")
    assert late.text is None
    assert late.toast == (
        "Votre proposition n’est plus marquée comme doublon\u00a0: il n’y a rien à rejoindre."
    )
