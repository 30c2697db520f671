"""New proposals announced to the staff group and the webhook; "take it" in the group, which
assigns the proposal to the presser's linked staff account; the group's message following
every change of assignment; staff accounts linked by the bot's deep link; the private
message to a staff member given a proposal."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.announcements import Announcer
from bot.services.assignment import change_assignment
from bot.text.i18n import Translator
from bot.text.staff_summary import TAKE_PREFIX
from storage.assignment import set_assignment_rule
from storage.database import create_sessionmaker
from storage.models import Conversation, OutboxMessage, Proposal, ProposalEvent, StaffUser
from storage.staff import add_staff, create_link_token, link_staff
from tests.clock import TEST_NOW
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


async def add_staff_member(
    engine: AsyncEngine, email: str, language: str = "en", telegram_user_id: int | None = None
) -> int:
    """A staff account, linked to `telegram_user_id` (as the deep link does) when given."""
    async with create_sessionmaker(engine)() as session, session.begin():
        staff = await add_staff(session, email, "-", "reviewer", language)
        if telegram_user_id is not None:
            token = await create_link_token(session, staff)
            assert (await link_staff(session, token, telegram_user_id)).status == "linked"
        return staff.id


async def the_proposal(engine: AsyncEngine) -> Proposal:
    async with create_sessionmaker(engine)() as session:
        return (await session.execute(select(Proposal))).scalar_one()


def toasts(chat: FakeChat) -> list[str | None]:
    return [p.get("text") for name, p in chat.telegram.calls if name == "answerCallbackQuery"]


async def test_take_it_assigns_the_proposal_to_the_linked_staff_account(
    make_chat: Any, engine: AsyncEngine
) -> None:
    ana = await add_staff_member(engine, "ana@example.brussels", "en", telegram_user_id=901)
    await add_staff_member(engine, "bram@example.brussels", "nl", telegram_user_id=902)
    chat = await submit(make_chat)
    await press_in_group(chat, 901, "Ana", TAKE_PREFIX + "BXL-2026-00001")
    await press_in_group(chat, 902, "Bram", TAKE_PREFIX + "BXL-2026-00001")
    await press_in_group(chat, 901, "Ana", TAKE_PREFIX + "BXL-2026-00001")

    proposal = await the_proposal(engine)
    assert proposal.assignee_id == ana and proposal.taken_by is None
    assert proposal.assignee_seen_at is not None  # taken oneself: not "new for you"
    async with create_sessionmaker(engine)() as session:
        events = (
            await session.execute(select(ProposalEvent).where(ProposalEvent.kind == "assigned"))
        ).scalars()
        assert [(e.actor, e.text) for e in events] == [("ana@example.brussels",) * 2]
    # each presser hears in their own back-office language (Bram: Dutch, "u")
    assert toasts(chat)[-3:] == [
        "It's yours. Thank you!",
        Translator("nl").gettext("Already taken by {name}.").format(name="ana@example.brussels"),
        "You already have it.",
    ]
    # the group's message is edited through the outbox, once: who has it, no button
    staff, _webhook, *later = await outbox(engine)
    [edit] = [row for row in later if row.kind == "telegram_edit"]
    assert (edit.chat_id, edit.payload["edit_of"]) == (STAFF_GROUP, staff.id)
    assert "ana@example.brussels" in edit.payload["text"] and edit.payload["buttons"] == []
    # taking it oneself sends nobody a private message
    assert not [row for row in later if row.chat_id in (901, 902)]


async def test_take_it_from_an_unlinked_account_says_how_to_link(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await submit(make_chat)
    await press_in_group(chat, 903, "Chloé", TAKE_PREFIX + "BXL-2026-00001")
    assert (await the_proposal(engine)).assignee_id is None
    nl = Translator("nl")  # the group's language: nobody knows this presser's
    assert nl.gettext("Your sessions") in str(toasts(chat)[-1])
    assert [row.kind for row in await outbox(engine)] == ["telegram", "webhook"]


async def test_take_it_outside_the_staff_group_does_nothing(
    make_chat: Any, engine: AsyncEngine, runner: Any
) -> None:
    chat = await submit(make_chat)
    runner.announcer = Announcer(staff_chat_id=-999)
    await add_staff_member(engine, "ana@example.brussels", telegram_user_id=901)
    await press_in_group(chat, 901, "Ana", TAKE_PREFIX + "BXL-2026-00001")
    assert (await the_proposal(engine)).assignee_id is None


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


# ------------------------------------------------------------------ web assignments and rules


async def test_a_change_made_elsewhere_edits_the_group_message_and_tells_the_assignee(
    make_chat: Any, engine: AsyncEngine, runner: Any
) -> None:
    ana = await add_staff_member(engine, "ana@example.brussels", "nl", telegram_user_id=901)
    await submit(make_chat)
    async with create_sessionmaker(engine)() as session, session.begin():
        proposal = (await session.execute(select(Proposal))).scalar_one()
        ana_account = await session.get(StaffUser, ana)
        # Bram assigns it to Ana in the back-office, then takes it back from nobody
        await change_assignment(
            session,
            proposal,
            ana_account,
            actor="bram@example.brussels",
            expected=None,
            announcer=runner.announcer,
        )
        await change_assignment(
            session,
            proposal,
            None,
            actor="bram@example.brussels",
            expected=ana,
            announcer=runner.announcer,
        )
    staff, _webhook, *later = await outbox(engine)
    assigned, private, unassigned = later
    assert (assigned.kind, assigned.payload["edit_of"]) == ("telegram_edit", staff.id)
    assert "ana@example.brussels" in assigned.payload["text"]
    assert assigned.payload["buttons"] == []
    # nobody has it again: the button is back
    assert "ana@example.brussels" not in unassigned.payload["text"]
    [[button]] = unassigned.payload["buttons"]
    assert button["callback_data"] == TAKE_PREFIX + "BXL-2026-00001"
    # Ana hears it privately, in her language (Dutch, "u"), with a link to the page
    nl = Translator("nl")
    assert (private.kind, private.chat_id) == ("telegram", 901)
    text = private.payload["text"]
    assert (
        nl.gettext("A proposal was assigned to you: {reference}").format(reference="BXL-2026-00001")
        in text
    )
    assert nl.gettext("Assigned to you by {name}.").format(name="bram@example.brussels") in text
    assert "Un potager partagé au parc Josaphat" in text
    assert 'href="https://intake.example.brussels/proposals/BXL-2026-00001"' in text


async def test_a_rule_s_assignee_is_named_in_the_first_message_and_told_privately(
    make_chat: Any, engine: AsyncEngine
) -> None:
    ana = await add_staff_member(engine, "ana@example.brussels", "en", telegram_user_id=901)
    async with create_sessionmaker(engine)() as session, session.begin():
        staff = await session.get(StaffUser, ana)
        assert staff is not None
        await set_assignment_rule(session, "commune", "21015", staff, created_by="admin")
    await submit(make_chat)  # Schaerbeek (21015)
    assert (await the_proposal(engine)).assignee_id == ana
    rows = await outbox(engine)
    [group] = [row for row in rows if row.chat_id == STAFF_GROUP]
    assert "ana@example.brussels" in group.payload["text"] and group.payload["buttons"] == []
    [private] = [row for row in rows if row.chat_id == 901]
    assert "Assigned to you by an assignment rule." in private.payload["text"]
    assert not [row for row in rows if row.kind == "telegram_edit"]


# ------------------------------------------------------------------ linking by deep link


async def test_the_deep_link_links_the_staff_account_mid_draft(
    make_chat: Any, engine: AsyncEngine
) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        staff = await add_staff(session, "ana@example.brussels", "-", "reviewer", "nl")
        token = await create_link_token(session, staff)
    chat: FakeChat = make_chat("fr")
    await chat.send("/start")
    await chat.press(1)  # the welcome's only button
    asking = chat.last_text()  # the title's question
    await chat.send(f"/start staff-{token}")
    linked = chat.telegram.sent(chat.user_id)[-1]["text"]
    assert "ana@example.brussels" in linked
    assert linked.startswith("✅ Uw Telegram-account is nu gekoppeld")  # Ana's language, "u"
    async with create_sessionmaker(engine)() as session:
        account = await session.get(StaffUser, staff.id)
        assert account is not None and account.telegram_user_id == chat.user_id
    # the draft goes on where it was: the next text is the title
    await chat.send("Un potager partagé au parc Josaphat")
    assert chat.last_text() != asking
    async with create_sessionmaker(engine)() as session:
        conversation = await session.get(Conversation, chat.user_id)
        assert conversation is not None
        assert conversation.draft["title"] == "Un potager partagé au parc Josaphat"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown", "I do not know this link."),
        ("expired", "This link has expired (links are valid for 24 hours)."),
        ("used", "This link has already been used."),
        ("other_staff", "already linked to another staff account (ana@example.brussels)"),
    ],
)
async def test_a_bad_staff_link_says_why(
    make_chat: Any, engine: AsyncEngine, case: str, expected: str
) -> None:
    chat: FakeChat = make_chat("en")
    async with create_sessionmaker(engine)() as session, session.begin():
        ana = await add_staff(session, "ana@example.brussels", "-", "reviewer", "en")
        bram = await add_staff(session, "bram@example.brussels", "-", "reviewer", "en")
        token = "no-such-token"
        if case == "expired":
            token = await create_link_token(session, bram, TEST_NOW - timedelta(hours=25))
        elif case == "used":
            token = await create_link_token(session, bram)
            await link_staff(session, token, 4242)
        elif case == "other_staff":
            await link_staff(session, await create_link_token(session, ana), chat.user_id)
            token = await create_link_token(session, bram)
    await chat.send(f"/start staff-{token}")
    answer = chat.telegram.sent(chat.user_id)[-1]["text"]
    assert answer.startswith("⚠️") and expected in answer
    assert "/start" in answer  # and how to propose an idea, as a citizen
