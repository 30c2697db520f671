"""The coach's side through the real Application: deep link, /coach menu, alert buttons."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.delivery.dispatcher import Dispatcher
from bot.services.coach_alerts import enqueue_coach_alerts
from bot.text.i18n import Translator
from storage.clock import utcnow
from storage.coaches import (
    COMMUNE,
    DIGEST,
    INITIATIVE,
    NOT_RELEVANT,
    THEME,
    invite_coach,
    link_coach,
    set_follow,
)
from storage.database import create_sessionmaker
from storage.models import Coach, CoachAlert, CoachTake, Conversation, Initiative
from storage.proposals import NewMatch
from tests.factories import make_citizen, make_proposal
from tests.fakes import FakeChat, FakeTelegram


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def invite(
    sessions: async_sessionmaker[AsyncSession],
    name: str = "Anne",
    language: str = "nl",
    now: datetime | None = None,
) -> str:
    async with sessions.begin() as session:
        _coach, token = await invite_coach(session, name, language, "staff@example.be", now)
    return token


async def coach_row(sessions: async_sessionmaker[AsyncSession], user_id: int) -> Coach:
    async with sessions() as session:
        from storage.coaches import coach_by_telegram

        found = await coach_by_telegram(session, user_id)
        assert found is not None
        return found


async def linked(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    *,
    name: str,
    language: str,
    follows: tuple[tuple[str, str], ...],
) -> None:
    async with sessions.begin() as session:
        _coach, token = await invite_coach(session, name, language, "test")
        outcome = await link_coach(session, token, user_id, user_id)
        assert outcome.coach is not None
        for kind, value in follows:
            await set_follow(session, outcome.coach, kind, value, True)


async def catalogue(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with sessions.begin() as session:
        initiatives = [
            Initiative(external_id=f"i{n:02d}", name=f"Potager {n:02d}", themes=["food"])
            for n in range(1, count + 1)
        ]
        initiatives.append(Initiative(external_id="c", name="Compost Josaphat", themes=["compost"]))
        session.add_all(initiatives)
        await session.flush()
        return [i.id for i in initiatives]


def labels(chat: FakeChat) -> list[str]:
    return [text for text, _data in chat.buttons()]


# ------------------------------------------------------------------ linking


async def test_the_deep_link_links_the_coach(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token = await invite(sessions, "Anne Peeters", "en")
    chat = make_chat("fr")
    await chat.send(f"/start coach-{token}")
    coach = await coach_row(sessions, chat.user_id)
    assert coach.name == "Anne Peeters" and coach.chat_id == chat.user_id
    # in the coach's language (English here), then the menu
    assert "Welcome, Anne Peeters" in chat.telegram.sent(chat.user_id)[0]["text"]
    assert "Coach menu" in chat.last_text()
    assert any("Initiatives" in label for label in labels(chat))
    # the citizen conversation was not touched
    async with sessions() as session:
        conversation = await session.get(Conversation, chat.user_id)
        assert conversation is not None and conversation.step == "start"
    # /coach is in this chat's command menu, in the coach's language
    [commands] = [p for name, p in chat.telegram.calls if name == "setMyCommands"]
    assert commands["scope"] == {"type": "chat", "chat_id": chat.user_id}
    assert "coach" in [c["command"] for c in commands["commands"]]
    # a second tap on the same link
    await chat.send(f"/start coach-{token}")
    assert "Welcome" in chat.telegram.sent(chat.user_id)[-2]["text"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown", "I do not know this coach invitation"),
        ("expired", "has expired"),
        ("used", "already been used"),
    ],
)
async def test_a_bad_link_leaves_the_intake_alone(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession], case: str, expected: str
) -> None:
    token = "no-such-token"
    if case == "expired":
        token = await invite(sessions, now=utcnow() - timedelta(days=7, minutes=1))
    elif case == "used":
        token = await invite(sessions)
        await make_chat("en").send(f"/start coach-{token}")
    chat = make_chat("en")
    await chat.send("/start")
    await chat.press(1)  # start a proposal
    await chat.send("A compost for our street")
    before = chat.last_text()
    await chat.send(f"/start coach-{token}")
    assert expected in chat.last_text() and "/start" in chat.last_text()
    async with sessions() as session:
        conversation = await session.get(Conversation, chat.user_id)
        assert conversation is not None and conversation.step == "description"
        assert conversation.draft["title"] == "A compost for our street"
        linked_ids = (await session.execute(select(Coach.telegram_user_id))).scalars().all()
        assert chat.user_id not in linked_ids
    # the intake goes on where it was
    await chat.send("Three compost bins with the neighbours and the school of the street.")
    assert chat.last_text() != before and "Step 3 of 11" in chat.last_text()


async def test_a_citizen_who_types_coach_gets_the_help(make_chat: Any) -> None:
    chat = make_chat("en")
    await chat.send("/coach")
    assert "How this works" in chat.telegram.sent(chat.user_id)[0]["text"]


async def test_a_citizen_cannot_press_coach_buttons(make_chat: Any) -> None:
    chat = make_chat("en")
    await chat.send("/start")
    message = chat.last()
    await chat.press_data(message, "alert:take:1")
    answers = [p for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert answers[-1].get("text") == "This button is only for coaches."


# ------------------------------------------------------------------ the menu


async def coach_chat(make_chat: Any, sessions: async_sessionmaker[AsyncSession]) -> FakeChat:
    token = await invite(sessions, "Anne", "en")
    chat: FakeChat = make_chat("nl")
    await chat.send(f"/start coach-{token}")
    return chat


async def test_follow_initiatives_by_search_and_pages(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ids = await catalogue(sessions, 10)
    chat = await coach_chat(make_chat, sessions)
    await chat.send("/coach")
    await chat.press("Initiatives")
    assert "Page 1 of 2" in chat.last_text()
    assert len([label for label in labels(chat) if label.startswith("▫️")]) == 8
    await chat.press("Next")
    assert "Page 2 of 2" in chat.last_text()
    await chat.send("josaph")  # a search: a few letters, any case, no accents needed
    assert "One initiative matches “josaph”" in chat.last_text()
    await chat.press("Compost Josaphat")
    assert any(label.startswith("✅ Compost Josaphat") for label in labels(chat))
    coach = await coach_row(sessions, chat.user_id)
    assert coach.followed(INITIATIVE) == [str(ids[-1])]
    await chat.press("Clear the search")
    # followed initiatives come first; tapping again unfollows
    assert labels(chat)[0].startswith("✅ Compost Josaphat")
    await chat.press("Compost Josaphat")
    assert (await coach_row(sessions, chat.user_id)).followed(INITIATIVE) == []
    await chat.press("Back to the menu")
    assert "Coach menu" in chat.last_text()
    # the menu is closed: text goes to the citizen conversation again
    await chat.press("Close the menu")
    await chat.send("hello")
    assert "Coach menu" not in chat.last_text() and "Menu closed" not in chat.last_text()
    # so it does after any other command, even while the search waits for text
    await chat.send("/coach")
    await chat.press("Initiatives")
    await chat.send("/help")
    await chat.send("Potager")
    assert "match “Potager”" not in chat.last_text() and "Initiatives you follow" not in (
        chat.last_text()
    )


async def test_themes_communes_pause_and_digest(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = await coach_chat(make_chat, sessions)
    await chat.press("Themes")
    await chat.press("Compost")
    await chat.press("Culture")
    await chat.press("Culture")  # untick
    await chat.press("Back to the menu")
    await chat.press("Communes")
    await chat.press("Ixelles")
    await chat.press("Back to the menu")
    coach = await coach_row(sessions, chat.user_id)
    assert coach.followed(THEME) == ["compost"] and coach.followed(COMMUNE) == ["21009"]
    assert "Ixelles" in chat.last_text() and "Compost" in chat.last_text()
    await chat.press("Pause alerts")
    assert (await coach_row(sessions, chat.user_id)).paused
    assert "paused" in chat.last_text()
    await chat.press("Resume alerts")
    assert not (await coach_row(sessions, chat.user_id)).paused
    await chat.press("Delivery")
    await chat.press("One digest a day")
    await chat.press("18:00")
    coach = await coach_row(sessions, chat.user_id)
    assert (coach.mode, coach.digest_time) == (DIGEST, time(18, 0))
    await chat.send("7h15")  # typed, Brussels time
    assert (await coach_row(sessions, chat.user_id)).digest_time == time(7, 15)
    assert "07:15" in chat.last_text()
    await chat.send("later")
    assert "Please send a time of day" in chat.last_text()
    await chat.press("As they come")
    assert (await coach_row(sessions, chat.user_id)).mode == "immediate"


async def test_the_menu_survives_a_new_application(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession], runner: Any
) -> None:
    """The menu's state is in the database: another Application (a restart) continues it."""
    await catalogue(sessions, 3)
    chat = await coach_chat(make_chat, sessions)
    await chat.press("Initiatives")
    from bot.telegram.application import build_bot

    telegram = FakeTelegram()
    telegram.messages = chat.telegram.messages
    other = build_bot(
        "123456:TEST-token-for-flow-tests-only",
        "http://telegram.invalid/bot",
        runner,
        "fr",
        request=telegram,
        get_updates_request=FakeTelegram(),
    )
    async with other.application:
        restarted = FakeChat(other.worker, telegram, chat.user_id, "nl")
        await restarted.send("compost")  # still a search
        assert "Compost Josaphat" in restarted.last_text() or any(
            "Compost Josaphat" in label for label in labels(restarted)
        )


async def test_an_old_menu_button(
    make_chat: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = await coach_chat(make_chat, sessions)
    old = chat.last_with_buttons()
    data = next(d for t, d in chat.buttons(old) if "Themes" in t)
    await chat.press("Pause alerts")  # the menu message now has newer buttons
    await chat.press_data(old, data)
    answers = [p for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert "out of date" in answers[-1]["text"]
    assert "Coach menu" in chat.last_text()


# ------------------------------------------------------------------ alerts and their buttons


async def submit(
    sessions: async_sessionmaker[AsyncSession], key: str, initiative_id: int, **fields: Any
) -> None:
    values: dict[str, Any] = {
        "submission_key": key,
        "language": "fr",
        "title": "Un compost collectif rue Royale",
        "description": "Installer trois bacs à compost avec les voisins et l'école.",
        "commune_refnis": "21015",
        "themes": ["compost"],
        "budget_cents": 250000,
        "contact_name": "Marie Dupont",
        "contact_email": "marie@example.be",
        "consent_contact": True,
        "consent_share": True,
    }
    values.update(fields)
    async with sessions.begin() as session:
        citizen = await make_citizen(session, 4242, "fr")
        proposal = await make_proposal(
            session,
            citizen,
            matches=[NewMatch(0.8, ["shared_concepts:compost"], initiative_id=initiative_id)],
            **values,
        )
        await enqueue_coach_alerts(session, proposal, threshold=0.35)


async def deliver(app: Any, sessions: async_sessionmaker[AsyncSession]) -> None:
    """What the outbox dispatcher of the running process does."""
    dispatcher = Dispatcher(sessions, app.bot, per_chat_interval=0, global_rate=0)
    while await dispatcher.dispatch_once():
        pass


async def test_take_not_relevant_and_contact(
    app: Any,
    make_chat: Any,
    telegram: FakeTelegram,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    [*_potagers, compost] = await catalogue(sessions, 1)
    anne, bruno = make_chat("nl"), make_chat("fr")
    await linked(
        sessions, anne.user_id, name="Anne", language="nl", follows=((INITIATIVE, str(compost)),)
    )
    await linked(
        sessions, bruno.user_id, name="Bruno", language="fr", follows=((THEME, "compost"),)
    )
    await submit(sessions, "p1", compost)
    await deliver(app, sessions)
    [anne_alert] = telegram.sent(anne.user_id)
    [bruno_alert] = telegram.sent(bruno.user_id)
    assert "Compost Josaphat" in anne_alert["text"] and "Schaarbeek" in anne_alert["text"]
    assert "Schaerbeek" in bruno_alert["text"]
    assert "Marie" not in anne_alert["text"]
    nl, fr = Translator("nl").gettext, Translator("fr").gettext  # each coach's language
    assert [t for t, _d in anne.buttons()] == [
        "🙋 " + nl("I'll take it"),
        "👎 " + nl("Not relevant"),
        "📇 " + nl("Contact the citizen"),
    ]

    await anne.press(nl("Contact the citizen"))
    assert "Marie Dupont" in anne.last_text() and "marie@example.be" in anne.last_text()

    await anne.press(nl("I'll take it"))
    assert nl("You took it.") in anne.last_with_buttons()["text"]
    assert [t for t, _d in anne.buttons()] == ["📇 " + nl("Contact the citizen")]
    await deliver(app, sessions)  # the edit of Bruno's alert
    bruno_now = bruno.last()
    assert fr("Taken by {name}.").format(name="Anne") in bruno_now["text"]
    assert [t for t, _d in bruno.buttons(bruno_now)] == [
        "👎 " + fr("Not relevant"),
        "📇 " + fr("Contact the citizen"),
    ]

    await bruno.press(fr("Not relevant"))
    answers = [p for name, p in telegram.calls if name == "answerCallbackQuery"]
    assert answers[-1]["text"] == fr(
        "Thank you: the staff will see that this match was not relevant."
    )
    assert fr("You marked it as not relevant; the staff will see it.") in bruno.last()["text"]
    async with sessions() as session:
        alerts = (await session.execute(select(CoachAlert).order_by(CoachAlert.id))).scalars()
        feedback = [(a.feedback, a.feedback_at is not None) for a in alerts]
        take = (await session.execute(select(CoachTake))).scalar_one()
    assert feedback == [(None, False), (NOT_RELEVANT, True)]
    assert take.coach_id == (await coach_row(sessions, anne.user_id)).id


async def test_no_contact_button_without_consent_and_the_digest(
    app: Any,
    make_chat: Any,
    telegram: FakeTelegram,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    [*_potagers, compost] = await catalogue(sessions, 1)
    carla = make_chat("en")
    await linked(
        sessions, carla.user_id, name="Carla", language="en", follows=((THEME, "compost"),)
    )
    async with sessions.begin() as session:
        from storage.coaches import coach_by_telegram

        found = await coach_by_telegram(session, carla.user_id)
        assert found is not None
        found.mode = DIGEST
        found.digest_time = time(0, 0)
    await submit(sessions, "p1", compost, consent_share=False)
    await deliver(app, sessions)
    assert telegram.sent(carla.user_id) == []  # waits for the digest
    from bot.services.coach_alerts import write_digests

    async with sessions.begin() as session:
        assert await write_digests(session, utcnow() + timedelta(days=1)) == 1
    await deliver(app, sessions)
    assert "daily digest" in carla.last_text()
    await carla.press("1.")  # open the proposal in full
    assert "Un compost collectif" in carla.last_text()
    assert [t for t, _d in carla.buttons()] == ["🙋 I'll take it", "👎 Not relevant"]
    card = carla.last()
    await carla.press("take it")
    assert "You took it" in card["text"] and "reply_markup" not in card  # nothing left to press
    await deliver(app, sessions)  # the digest is rewritten to say so
    digest = carla.last_with_buttons()
    assert "daily digest" in digest["text"] and "You took it" in digest["text"]
