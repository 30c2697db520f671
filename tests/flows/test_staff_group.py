"""New proposals announced to the staff group and the webhook; "take it" in the group."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.announcements import Announcer
from bot.text.i18n import Translator
from bot.text.staff_summary import TAKE_PREFIX
from storage.database import create_sessionmaker
from storage.models import OutboxMessage, Proposal, ProposalEvent
from tests.fakes import FakeChat
from tests.flows.support import walk_to_review

STAFF_GROUP = -1001234


@pytest.fixture(autouse=True)
def announce(runner: Any) -> None:
    runner.announcer = Announcer(
        staff_chat_id=STAFF_GROUP,
        staff_language="nl",
        back_office_url="https://intake.example.brussels",
        webhook=True,
    )


async def outbox(engine: AsyncEngine) -> list[OutboxMessage]:
    async with create_sessionmaker(engine)() as session:
        return list(
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        )


async def submit(make_chat: Any) -> FakeChat:
    chat: FakeChat = make_chat("fr")
    await walk_to_review(chat)
    await chat.press("Envoyer")
    return chat


def group_message(text: str, buttons: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The staff group's copy of the summary, as Telegram would show it under a button press."""
    message: dict[str, Any] = {
        "message_id": 77,
        "date": 0,
        "chat": {"id": STAFF_GROUP, "type": "supergroup", "title": "Staff"},
        "text": text,
    }
    if buttons:  # Telegram leaves out a keyboard without buttons
        message["reply_markup"] = {"inline_keyboard": buttons}
    return message


async def press_in_group(chat: FakeChat, user_id: int, name: str, data: str) -> None:
    query = {
        "id": f"q{user_id}",
        "from": {"id": user_id, "is_bot": False, "first_name": name, "username": name.lower()},
        "chat_instance": "staff",
        "message": group_message("…", []),
        "data": data,
    }
    await chat._process({"callback_query": query})


async def test_a_submission_queues_the_staff_summary_and_the_webhook_once(
    make_chat: Any, engine: AsyncEngine
) -> None:
    await submit(make_chat)
    staff, webhook = await outbox(engine)

    assert staff.chat_id == STAFF_GROUP and staff.kind == "telegram"
    text = staff.payload["text"]
    assert "BXL-2026-00001" in text and "Un potager partagé au parc Josaphat" in text
    assert "Schaarbeek" in text  # the staff group reads Dutch
    assert 'href="https://intake.example.brussels/proposals/BXL-2026-00001"' in text
    [[button]] = staff.payload["buttons"]
    assert button["callback_data"] == TAKE_PREFIX + "BXL-2026-00001"

    assert webhook.kind == "webhook" and webhook.chat_id is None
    body = webhook.payload["body"]
    assert body["event"] == "proposal.submitted"
    assert body["proposal"]["reference"] == "BXL-2026-00001"
    assert body["proposal"]["contact_email"] == "marie@example.be"  # consented to share
    json.dumps(body)  # plain JSON


async def test_take_it_records_the_first_taker_and_edits_the_message(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await submit(make_chat)
    chat.telegram.messages[(STAFF_GROUP, 77)] = group_message("…", [])
    await press_in_group(chat, 901, "Ana", TAKE_PREFIX + "BXL-2026-00001")
    await press_in_group(chat, 902, "Bram", TAKE_PREFIX + "BXL-2026-00001")

    async with create_sessionmaker(engine)() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        taken = (
            await session.execute(select(ProposalEvent).where(ProposalEvent.kind == "taken"))
        ).scalars()
        assert [e.actor for e in taken] == ["Ana (@ana)"]
    assert proposal.taken_by == "Ana (@ana)"

    edits = [
        p
        for name, p in chat.telegram.calls
        if name == "editMessageText" and p["chat_id"] == STAFF_GROUP
    ]
    assert len(edits) == 1  # the second press changes nothing
    assert "Ana (@ana)" in edits[0]["text"] and "reply_markup" not in edits[0]
    toasts = [p.get("text") for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert "Ana (@ana)" in toasts[-1]  # Bram hears who was first (in Dutch)


async def test_take_it_outside_the_staff_group_does_nothing(
    make_chat: Any, engine: AsyncEngine, runner: Any
) -> None:
    chat = await submit(make_chat)
    runner.announcer = Announcer(staff_chat_id=-999)
    await press_in_group(chat, 901, "Ana", TAKE_PREFIX + "BXL-2026-00001")
    async with create_sessionmaker(engine)() as session:
        assert (await session.execute(select(Proposal.taken_by))).scalar_one() is None


async def test_test_proposals_announce_nothing(
    make_chat: Any, engine: AsyncEngine, runner: Any
) -> None:
    runner.test_proposals = True
    await submit(make_chat)
    async with create_sessionmaker(engine)() as session:
        assert (await session.execute(select(Proposal.is_test))).scalar_one() is True
    assert await outbox(engine) == []


async def test_a_withdrawal_edits_the_staff_message_and_is_pushed(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await submit(make_chat)
    await chat.send("/withdraw")
    await chat.press("BXL-2026-00001")
    await chat.press("Oui")
    staff, _submitted, *later = await outbox(engine)
    edit = next(row for row in later if row.kind == "telegram_edit")
    assert (edit.chat_id, edit.payload["edit_of"]) == (STAFF_GROUP, staff.id)
    assert Translator("nl").gettext("Withdrawn by the citizen.") in edit.payload["text"]
    assert "buttons" not in edit.payload  # nobody can take it any more
    push = next(row for row in later if row.kind == "webhook")
    assert push.payload["body"]["change"] == {
        "from": "submitted",
        "to": "withdrawn",
        "at": push.payload["body"]["change"]["at"],
        "by": "citizen",
    }
