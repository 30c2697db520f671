"""The intake conversation through the real python-telegram-bot Application."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.catalogue import seed_starter_catalogue
from storage.database import create_sessionmaker
from storage.models import Proposal, ProposalMatch
from tests.flows.support import walk_to_review


async def proposals(engine: AsyncEngine) -> list[Proposal]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.execute(select(Proposal))).scalars())


async def test_full_proposal_in_french(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("fr")
    await walk_to_review(chat)
    assert "Vérifiez votre proposition" in chat.last_text()
    await chat.press("Envoyer")
    assert "BXL-2026-00001" in chat.last_text()
    [stored] = await proposals(engine)
    assert stored.title == "Un potager partagé au parc Josaphat"
    assert stored.commune_refnis == "21015"
    assert stored.carrier == "association"
    assert stored.partners == ["school"]
    assert stored.themes == ["food"]
    assert stored.budget_cents == 250000
    assert stored.contact_email == "marie@example.be"
    assert stored.language == "fr"
    assert stored.consent_contact and stored.consent_share


async def test_similar_initiatives_and_calls_with_the_catalogue(
    make_chat: Any, engine: AsyncEngine
) -> None:
    sessions = create_sessionmaker(engine)
    await seed_starter_catalogue(sessions)
    chat = make_chat("en")
    await chat.send("/start")
    await chat.press(1)
    await chat.send("Community composting in Uccle")
    await chat.send("Compost bins in the park where neighbours bring their vegetable peelings.")
    await chat.send("Uccle")
    await chat.press("informal group")
    await chat.press("continue")
    assert "✅ Compost" in str(chat.buttons())  # suggested from the description
    await chat.press("Done")
    assert "Others have had a similar idea" in chat.last_text()
    assert "Compost Collectif Parc Brugmann" in chat.last_text()
    assert "same commune" in chat.last_text()
    await chat.press("Put me in touch with 1")
    await chat.send("2000")
    assert "Inspirons le quartier" in chat.last_text()
    await chat.press("1")
    await chat.press("Skip")
    await chat.press("Skip")
    await chat.press("No")
    # a wish to be put in touch, but nothing to pass on: one clear question
    assert "gave no name or contact details" in chat.last_text()
    await chat.press("Give my contact details")
    await chat.send("Sam")
    await chat.press("Skip")
    await chat.press("No")
    assert "share your name and contact" in chat.last_text()
    await chat.press("Yes")
    assert "Inspirons le quartier" in chat.last_text()  # the review shows the call
    assert "Compost Collectif Parc Brugmann" in chat.last_text()  # and who to meet
    await chat.press("Submit")
    assert "We pass on your wish to be put in touch with" in chat.last_text()
    async with sessions() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        matches = (
            (await session.execute(select(ProposalMatch).order_by(ProposalMatch.rank)))
            .scalars()
            .all()
        )
    assert proposal.call_id == "inspirons_coup_de_pouce"
    assert proposal.similar is not None and proposal.similar["choice"] == "connect"
    assert matches and matches[0].initiative_id is not None
    assert "same_commune" in matches[0].reasons
