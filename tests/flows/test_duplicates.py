"""The citizen of a duplicate presses "Ask to join this proposal" (issue 14 §6), through the
real Application and the inbox: whatever step their conversation is in, once, however many
times the press or its update comes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.delivery.dispatcher import Dispatcher
from bot.flows.base import Input, InputKind
from bot.flows.runner import Runner, Sender
from bot.services.duplicates import mark_as_duplicate
from storage.database import create_sessionmaker
from storage.duplicates import ASKED_TO_JOIN, JOIN_REQUESTED, unmark_duplicate
from storage.inbox import UpdateKey
from storage.models import Conversation, Proposal, ProposalEvent
from tests.factories import make_citizen, make_proposal
from tests.fakes import FakeTelegram
from tests.flows.support import walk_to_review

BOT_ID = 123456


async def deliver(app: Any, sessions: async_sessionmaker[AsyncSession]) -> None:
    """What the outbox dispatcher of the running process does."""
    dispatcher = Dispatcher(sessions, app.bot, per_chat_interval=0, global_rate=0)
    while await dispatcher.dispatch_once():
        pass


def toasts(telegram: FakeTelegram) -> list[str]:
    return [str(p.get("text", "")) for name, p in telegram.calls if name == "answerCallbackQuery"]


async def join_events(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(ProposalEvent)
            .where(ProposalEvent.kind.in_((ASKED_TO_JOIN, JOIN_REQUESTED)))
            .order_by(ProposalEvent.id)
        )
        return [(e.kind, e.text) for e in rows.scalars()]


async def test_the_press_asks_once_whatever_the_step_and_not_after_unmarking(
    app: Any, make_chat: Any, engine: AsyncEngine, telegram: FakeTelegram, runner: Runner
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        marie = await make_citizen(session, 7001)
        original = await make_proposal(
            session, marie, contact_name="Marie Dupont", contact_email="marie@example.be"
        )
    jan = make_chat("fr")
    await walk_to_review(jan)
    await jan.press("Envoyer")
    async with sessions() as session, session.begin():
        duplicate = (
            await session.execute(select(Proposal).where(Proposal.id != original.id))
        ).scalar_one()
        await mark_as_duplicate(session, duplicate, original.reference, actor="anna@example.be")
    await deliver(app, sessions)
    [notice] = [m for m in telegram.sent(jan.user_id) if original.reference in m["text"]]
    assert duplicate.reference in notice["text"] and original.title in notice["text"]
    for personal in ("Marie", "marie@example.be"):
        assert personal not in notice["text"]
    assert telegram.sent(7001) == []  # Marie is told nothing
    message = next(m for (cid, _), m in telegram.messages.items() if m["text"] == notice["text"])
    [(label, data)] = jan.buttons(message)
    assert label == "🤝 Rejoindre cette proposition"

    # Jan is writing a new proposal meanwhile: the press works there too, and leaves it.
    await jan.send("/new")
    await jan.send("Un deuxième potager, rue Royale")
    update_id = await jan.press_data(message, data)
    assert toasts(telegram)[-1] == "Demande envoyée."
    assert "L’équipe vous mettra en contact" in jan.last_text()
    assert original.reference in jan.last_text()
    assert "reply_markup" not in telegram.messages[(jan.user_id, message["message_id"])]
    async with sessions() as session:
        conversation = await session.get(Conversation, jan.user_id)
        assert conversation is not None and conversation.step == "description"
        assert conversation.draft["title"] == "Un deuxième potager, rue Royale"
    expected = [(ASKED_TO_JOIN, original.reference), (JOIN_REQUESTED, duplicate.reference)]
    assert await join_events(engine) == expected

    # Pressed again, the same update delivered again, or taken up again after a crash: one
    # request.
    await jan.press_data(message, data)
    assert "déjà demandé" in toasts(telegram)[-1]
    await jan._process(jan.press_payload(message, data), update_id=update_id)
    again = await runner.handle(
        Sender(jan.user_id, jan.user_id, "fr"),
        Input(InputKind.BUTTON, data),
        UpdateKey(BOT_ID, update_id),
    )
    assert (again.toast, again.replies) == (None, [])  # applied and answered already
    assert await join_events(engine) == expected

    # The staff change their mind: a press on the old message says so.
    async with sessions() as session, session.begin():
        stored = await session.get(Proposal, duplicate.id)
        assert stored is not None
        await unmark_duplicate(session, stored, actor="anna@example.be")
    await jan.press_data(message, data)
    assert toasts(telegram)[-1] == (
        "Votre proposition n’est plus marquée comme doublon\u00a0: il n’y a rien à rejoindre."
    )
    assert await join_events(engine) == expected
