"""/withdraw: the citizen withdraws a proposal the staff have not decided on yet."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_sessionmaker
from storage.models import Proposal, ProposalEvent
from tests.flows.support import walk_to_review


async def submitted(make_chat: Any) -> Any:
    chat = make_chat("fr")
    await walk_to_review(chat)
    await chat.press("Envoyer")
    return chat


async def stored(engine: AsyncEngine) -> tuple[Proposal, list[ProposalEvent]]:
    async with create_sessionmaker(engine)() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        events = (await session.execute(select(ProposalEvent).order_by(ProposalEvent.id))).scalars()
        return proposal, list(events)


async def test_withdraw_after_confirmation_is_recorded_for_the_staff(
    make_chat: Any, engine: AsyncEngine, runner: Any
) -> None:
    chat = await submitted(make_chat)
    async with create_sessionmaker(engine)() as session:
        await runner.matcher.refresh(session)
    assert "p1" in runner.matcher.index  # shown to others as a similar proposal
    await chat.send("/status")
    assert "/withdraw" in chat.last_text()
    await chat.send("/withdraw")
    assert "Quelle proposition" in chat.last_text()
    await chat.press("BXL-2026-00001")
    assert "Un potager partagé au parc Josaphat" in chat.last_text()
    await chat.press("Oui, la retirer")

    assert "BXL-2026-00001" in chat.last_text() and "retirée" in chat.last_text()
    assert "Merci" not in chat.last_text()  # the thank-you is not repeated
    proposal, events = await stored(engine)
    assert proposal.status == "withdrawn"
    assert (events[-1].actor, events[-1].from_status, events[-1].to_status) == (
        "citizen",
        "submitted",
        "withdrawn",
    )
    assert "p1" not in runner.matcher.index  # no longer
    await chat.send("/withdraw")  # nothing left to withdraw
    assert "aucune proposition" in chat.last_text().lower()


async def test_keeping_changes_nothing_and_a_stale_confirmation_is_refused(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await submitted(make_chat)
    await chat.send("/withdraw")
    await chat.press("BXL-2026-00001")
    confirmation = chat.last_with_buttons()
    yes = next(data for text, data in chat.buttons(confirmation) if "Oui" in text)
    await chat.press("Non")
    assert (await stored(engine))[0].status == "submitted"
    # The old "yes" button no longer works.
    await chat.press_data(confirmation, yes)
    assert (await stored(engine))[0].status == "submitted"


async def test_a_decided_proposal_cannot_be_withdrawn(make_chat: Any, engine: AsyncEngine) -> None:
    chat = await submitted(make_chat)
    async with create_sessionmaker(engine).begin() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        proposal.status = "accepted"
    await chat.send("/withdraw")
    assert "aucune proposition" in chat.last_text().lower()
