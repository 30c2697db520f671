"""Moving around the intake as a citizen does: back (command, button, word), pause, the
language, the step counter and what it says when it passes a step. Through the real
Application, in the three languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.flows.support import walk_to_review
from tests.flows.test_commands import DESCRIPTION, TITLE, conversation, start, to_review

SORRY = ("Sorry, I could not handle", "Désolé, je n’ai pas pu", "Sorry, ik kon")


def no_error(chat: Any) -> None:
    for message in chat.telegram.sent(chat.user_id):
        assert not any(sorry in str(message.get("text", "")) for sorry in SORRY), message


async def start_in(chat: Any, language: str) -> None:
    await chat.send("/start")
    await chat.press(1)  # the welcome's only button


@pytest.mark.parametrize(
    ("language", "typo", "yes", "where"),
    [
        ("fr", "schaerbek", "Oui", "Étape 3 sur 11"),
        ("nl", "schaarbek", "Ja", "Stap 3 van 11"),
        ("en", "schaerbek", "Yes", "Step 3 of 11"),
    ],
)
async def test_back_after_confirming_a_commune_from_a_typo(
    make_chat: Any, engine: AsyncEngine, language: str, typo: str, yes: str, where: str
) -> None:
    chat = make_chat(language)
    await start_in(chat, language)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send(typo)
    assert "Schaerbeek" in chat.last_text() or "Schaarbeek" in chat.last_text()
    await chat.press(yes)
    await chat.send("/back")
    assert where in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "where"
    await chat.send("1030")  # the same question, answered again: on to the carrier
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "carrier" and stored.draft["commune"] == "21015"
    no_error(chat)


@pytest.mark.parametrize(
    ("language", "word", "title_step"),
    [
        ("fr", "retour", "Étape 1 sur 11"),
        ("nl", "Terug", "Stap 1 van 11"),
        ("en", "back", "Step 1"),
    ],
)
async def test_a_back_button_and_the_word_back(
    make_chat: Any, engine: AsyncEngine, language: str, word: str, title_step: str
) -> None:
    chat = make_chat(language)
    await start_in(chat, language)
    assert "◀" not in str(chat.buttons(chat.last()))  # the first question has nowhere to go back to
    await chat.send(TITLE)
    assert "◀" in str(chat.buttons(chat.last()))  # the description question has one
    await chat.press("◀")
    assert title_step in chat.last_text()
    await chat.send(TITLE)
    await chat.send(word)
    assert title_step in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "title" and stored.draft["title"] == TITLE
    await chat.send(word)  # nothing before the first question: said, not a crash
    assert title_step in chat.last_text()
    no_error(chat)


async def test_back_from_a_toggle_question_and_from_the_review(make_chat: Any) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("◀")
    assert "share your name and contact" in chat.last_text()
    await chat.press("No")
    assert "Please check your proposal" in chat.last_text()
    no_error(chat)


async def test_pause_keeps_the_draft_and_cancel_says_it_only_pauses(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/pause")
    assert "Paused" in chat.last_text()
    await chat.send("/start")
    assert "Step 2 of 11" in chat.last_text()
    await chat.send("/cancel")
    assert "does not delete anything" in chat.last_text() and "/new" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "paused" and stored.draft["title"] == TITLE
    chat_fr = make_chat("fr")
    await start_in(chat_fr, "fr")
    await chat_fr.send("Un potager partagé au parc Josaphat")
    await chat_fr.send("/cancel")
    assert "/pause" in chat_fr.last_text() and "/new" in chat_fr.last_text()


@pytest.mark.parametrize(
    ("language", "thanks", "idle"),
    [
        ("fr", "Merci", "/new"),
        ("nl", "Bedankt", "/new"),
    ],
)
async def test_language_after_submitting_does_not_thank_again(
    make_chat: Any, engine: AsyncEngine, language: str, thanks: str, idle: str
) -> None:
    chat = make_chat("fr")
    await walk_to_review(chat)
    await chat.press("Envoyer")
    assert "Merci" in chat.last_text()
    await chat.send("/language")
    await chat.press("Nederlands" if language == "nl" else "Français")
    assert thanks not in chat.last_text()
    assert idle in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "idle" and stored.language == language


async def test_a_passed_step_is_said_and_the_contact_questions_are_counted(
    make_chat: Any,
) -> None:
    chat = make_chat("en")
    await start(chat)
    welcome = chat.telegram.sent(chat.user_id)[0]["text"]
    assert "five minutes" in welcome and "11 steps" in welcome
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("1030")
    await chat.press("association")
    await chat.press("continue")
    await chat.choose("Zero waste")
    await chat.press("Done")  # no catalogue: nothing similar, step 7 is passed over
    text = chat.last_text()
    assert "Step 7, similar initiatives: none is close" in text and "Step 8 of 11" in text
    await chat.press("don't know")
    await chat.press("staff decide")
    assert "Step 10 of 11 · question 1 of 4" in chat.last_text()
    await chat.press("Skip")
    assert "question 2 of 4" in chat.last_text()
    await chat.press("Skip")
    assert "question 3 of 3" in chat.last_text()  # nothing to share: no fourth question


@pytest.mark.parametrize(
    ("language", "nothing"),
    [
        ("fr", "Vous n’avez pas encore envoyé de proposition"),
        ("nl", "Je hebt nog geen voorstel ingediend"),
    ],
)
async def test_status_after_erasure_answers_in_the_telegram_language(
    make_chat: Any, language: str, nothing: str
) -> None:
    """Erasure deletes the chat's language with the rest: the bot answers in the language
    the citizen's Telegram speaks, without the welcome."""
    chat = make_chat(language)
    await start_in(chat, language)
    await chat.send("/delete_me")
    await chat.press("🗑")
    await chat.send("/status")
    assert nothing in chat.last_text()
    no_error(chat)
