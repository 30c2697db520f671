"""Tests for the local Bot API emulator, its control client and the terminal demo."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from bot.emulator.client import EmulatorClient, EmulatorError
from bot.emulator.markup import parse_html
from bot.emulator.state import EmulatorState
from bot.emulator.terminal import html_to_terminal, render_event, run_terminal_chat

TOKEN = "123456:EMULATOR-test-token"
USER = 4242


@pytest.fixture
async def bot(emulator: str) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emulator) as the_bot:
        yield the_bot


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator) as the_client:
        yield the_client


def _keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def _eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# ---- Bot API side ----------------------------------------------------------------------------


async def test_get_me_and_token_check(emulator: str, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "intake_demo_bot"  # the token's id
    assert me.first_name == "Intake Bot" and me.can_join_groups

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator}{TOKEN}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with session.get(f"{emulator}{TOKEN}/getMe") as response:
            assert (await response.json())["ok"] is True

    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=emulator):
            pass


async def test_send_edit_and_state(bot: Bot, client: EmulatorClient) -> None:
    await client.send_text(USER, "hello")
    sent = await bot.send_message(
        USER,
        "<b>Choose</b> a commune",
        parse_mode=ParseMode.HTML,
        reply_markup=_keyboard([("Ixelles", "c:ixl"), ("Uccle", "c:ucc")]),
    )
    assert sent.message_id == 2  # message ids are per chat, shared with the user's message
    assert sent.text == "Choose a commune"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 6
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "c:ucc"
    assert sent.from_user is not None and sent.from_user.id == 123456

    edited = await bot.edit_message_text(
        "Commune: <i>Ixelles</i>",
        chat_id=USER,
        message_id=sent.message_id,
        parse_mode=ParseMode.HTML,
        reply_markup=_keyboard([("Change", "c:change")]),
    )
    assert isinstance(edited, type(sent)) and edited.text == "Commune: Ixelles"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text(
            "Commune: <i>Ixelles</i>",
            chat_id=USER,
            message_id=sent.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard([("Change", "c:change")]),
        )
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=99)
    # Like Telegram, editing the text without reply_markup drops the keyboard.
    await bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)
    second = await bot.send_message(USER, "bye", reply_markup=ReplyKeyboardMarkup([["A", "B"]]))
    assert second.reply_markup is None  # reply keyboards are not echoed in Message
    assert await bot.delete_message(USER, second.message_id)

    events = await client.events(USER)
    assert [e["kind"] for e in events] == ["send", "edit", "edit", "send", "delete"]
    assert events[0]["text"] == "<b>Choose</b> a commune" and events[0]["parse_mode"] == "HTML"
    assert events[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "c:ixl"
    assert events[3]["reply_markup"]["keyboard"] == [[{"text": "A"}, {"text": "B"}]]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)

    messages = await client.messages(USER)
    assert messages == [
        {
            "message_id": 2,
            "from_bot": True,
            "text": "Done",
            "plain_text": "Done",
            "entities": [],
            "parse_mode": None,
            "reply_markup": None,
            "edited": True,
        }
    ]
    await client.send_text(USER, "again")
    with_users = await client.messages(USER, with_users=True)
    assert [(m["from_bot"], m["plain_text"]) for m in with_users] == [
        (False, "hello"),
        (True, "Done"),
        (False, "again"),
    ]


async def test_callback_query_and_answer(bot: Bot, client: EmulatorClient) -> None:
    sent = await bot.send_message(USER, "Sure?", reply_markup=_keyboard([("Yes", "yes")]))
    update_id = await client.press(USER, sent.message_id, "forged-payload")
    (update,) = await bot.get_updates(timeout=1)
    assert update.update_id == update_id
    query = update.callback_query
    assert query is not None and query.data == "forged-payload"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.from_user.id == USER and query.chat_instance

    assert await bot.answer_callback_query(query.id, text="Saved", show_alert=True)
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_callback_query("123")
    answers = await client.callback_answers(USER)
    assert len(answers) == 1
    assert answers[0]["text"] == "Saved" and answers[0]["show_alert"] is True
    assert (await client.events(USER))[-1]["kind"] == "answer_callback"


async def test_commands_per_language_and_scope(bot: Bot, client: EmulatorClient) -> None:
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("start", "Commencer")], language_code="fr")
    await bot.set_my_commands([BotCommand("start", "Beginnen")], language_code="nl")
    await bot.set_my_commands([BotCommand("admin", "Admin")], scope=BotCommandScopeChat(chat_id=7))
    nl = await bot.get_my_commands(language_code="nl")
    assert [(c.command, c.description) for c in nl] == [("start", "Beginnen")]
    assert await bot.get_my_commands(language_code="de") == ()
    stored = {(c["scope"], c["language_code"]): c for c in await client.commands()}
    assert stored[("default", "fr")]["commands"] == [
        {"command": "start", "description": "Commencer"}
    ]
    assert stored[("chat", "")]["chat_id"] == 7
    assert await bot.delete_my_commands(language_code="nl")
    assert ("default", "nl") not in {
        (c["scope"], c["language_code"]) for c in await client.commands()
    }
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.send_chat_action(USER, "typing")
    assert await bot.set_chat_menu_button()


async def test_get_updates_long_poll_and_offset(bot: Bot, client: EmulatorClient) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    update_id = await client.send_text(USER, "/start now", language_code="nl")
    (update,) = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert update.update_id == update_id
    message = update.message
    assert message is not None and message.text == "/start now"
    assert message.from_user is not None and message.from_user.language_code == "nl"
    assert message.chat.type == "private" and message.chat.id == USER
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6

    # Not confirmed yet: delivered again; offset confirms and drops it.
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await client.pending_updates() == 1
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert await client.pending_updates() == 0

    # Media and edits come through as objects python-telegram-bot understands.
    await client.send_sticker(USER)
    await client.send_photo(USER, caption="pothole")
    await client.send_voice(USER)
    await client.send_location(USER, 50.85, 4.35)
    await client.edit_text(USER, message.message_id, "/start later")
    await client.send_raw({"message": {**message.to_dict(), "text": "raw"}})
    updates = await bot.get_updates(offset=update_id + 1, limit=10)
    assert len(updates) == 6
    sticker, photo, voice, location, edited, raw = updates
    assert sticker.message and sticker.message.sticker and sticker.message.sticker.width == 512
    assert photo.message and photo.message.photo and photo.message.caption == "pothole"
    assert voice.message and voice.message.voice and voice.message.voice.file_id
    assert location.message and location.message.location
    assert location.message.location.latitude == pytest.approx(50.85)
    assert edited.edited_message and edited.edited_message.text == "/start later"
    assert raw.message and raw.message.text == "raw"
    assert await bot.get_updates(offset=raw.update_id + 1) == ()

    # language_code=None: a user whose Telegram language is unknown.
    await client.send_text(USER, "hi", language_code=None)
    (no_language,) = await bot.get_updates(offset=raw.update_id + 1)
    assert no_language.message and no_language.message.from_user
    assert no_language.message.from_user.language_code is None


async def test_html_validation(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(USER, "<b>x", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "" at byte offset 2'):
        await bot.send_message(USER, "a < b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "Tom & Jerry", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
        await bot.send_message(USER, "<div>x</div>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)unmatched end tag"):
        await bot.send_message(USER, "<b><i>x</b></i>", parse_mode=ParseMode.HTML)
    ok = await bot.send_message(USER, "a &lt; b &amp;&amp; Tom &#38; Jerry", parse_mode="HTML")
    assert ok.text == "a < b && Tom & Jerry"
    # Without parse_mode the same characters are just text.
    assert (await bot.send_message(USER, "a < b & c")).text == "a < b & c"
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(USER, "x" * 4097)
    # The limit applies after the tags are removed.
    long_ok = await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(long_ok.text or "") == 4096


def test_parse_html_entities_use_utf16_offsets() -> None:
    plain, entities = parse_html(
        '😀 <b>gras</b> <a href="https://x.be?a=1&amp;b=2">lien</a> '
        '<pre><code class="language-python">x</code></pre> <blockquote expandable>q</blockquote>'
    )
    assert plain == "😀 gras lien x q"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 8, "length": 4, "url": "https://x.be?a=1&b=2"},
        {"type": "pre", "offset": 13, "length": 1, "language": "python"},
        {"type": "expandable_blockquote", "offset": 15, "length": 1},
    ]
    assert html_to_terminal("<b>a</b> &amp; <i>b</i>") == "a & b"
    assert html_to_terminal("<b>a</b>", ansi=True) == "\033[1ma\033[22m"


async def test_callback_data_limit(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=_keyboard([("Too long", "d" * 65)]))
    # 64 bytes is fine, counted in bytes (é is two).
    await bot.send_message(USER, "x", reply_markup=_keyboard([("Ok", "é" * 32)]))
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=_keyboard([("No", "é" * 33)]))


async def test_media_markup_edits_and_reset(bot: Bot, client: EmulatorClient) -> None:
    photo = await bot.send_photo(USER, b"\x89PNG fake", caption="<b>Carte</b>", parse_mode="HTML")
    assert photo.photo and photo.caption == "Carte"
    document = await bot.send_document(USER, b"a;b\n", filename="export.csv", caption="CSV")
    assert document.document is not None and document.document.file_name == "export.csv"
    location = await bot.send_location(USER, 50.85, 4.35)
    assert location.location is not None and location.location.latitude == pytest.approx(50.85)

    question = await bot.send_message(
        USER, "<b>Q</b>", parse_mode="HTML", reply_markup=_keyboard([("A", "a")])
    )
    edited = await bot.edit_message_reply_markup(USER, question.message_id)
    assert not isinstance(edited, bool) and edited.reply_markup is None
    assert edited.text == "Q" and edited.entities == question.entities  # content untouched
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(USER, question.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, 999)
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(USER, "re", reply_to_message_id=999)

    events = await client.events(USER)
    assert [e["text"] for e in events[:3]] == ["<b>Carte</b>", "CSV", None]
    assert (events[1]["file_name"], events[1]["file_text"]) == ("export.csv", "a;b\n")
    assert render_event(events[1]) == "bot: (document export.csv) CSV\n     │ a;b"
    assert events[2]["location"] == {"latitude": 50.85, "longitude": 4.35}
    assert events[-1]["kind"] == "edit" and events[-1]["reply_markup"] is None
    last = events[-1]["seq"]

    await client.send_text(USER, "left over")
    await client.reset()
    assert await client.pending_updates() == 0
    assert await client.messages(USER) == [] and await client.events() == []
    # Sequence numbers and update ids keep increasing across resets (a polling bot keeps its
    # offset), message ids start again.
    update_id = await client.send_text(USER, "after reset")
    (update,) = await bot.get_updates()
    assert update.update_id == update_id and update.message and update.message.message_id == 1
    await bot.send_message(USER, "fresh")
    assert (await client.events(USER))[0]["seq"] == last + 1


async def test_events_long_poll_and_get_updates_conflict(
    emulator: str, bot: Bot, client: EmulatorClient
) -> None:
    waiting = asyncio.create_task(client.events(USER, after=0, timeout=3))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await bot.send_message(USER, "ping")
    (event,) = await asyncio.wait_for(waiting, 1)
    assert event["text"] == "ping" and event["kind"] == "send"
    assert await client.events(USER, after=event["seq"], timeout=0.05) == []

    # A second getUpdates (another bot instance) terminates a pending long poll, as on Telegram.
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.05)
    async with Bot(TOKEN, base_url=emulator) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict):
        await asyncio.wait_for(first, 1)


# ---- client helpers with a real python-telegram-bot Application ------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("Bienvenue !")
    await update.effective_message.reply_text(
        "Votre commune ?",
        reply_markup=_keyboard([("Ixelles", "c:ixl"), ("Uccle", "c:ucc")], [("Autre", "c:x")]),
    )


async def _chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("OK")
    await query.edit_message_text(f"Choisi : {query.data}")


async def test_client_press_button_and_wait_for_reply(
    emulator: str, client: EmulatorClient
) -> None:
    application = Application.builder().token(TOKEN).base_url(emulator).build()
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CallbackQueryHandler(_chosen))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=2))
        try:
            await client.send_text(USER, "/start")
            reply = await client.wait_for_reply(USER, timeout=3)
            assert [e["text"] for e in reply] == ["Bienvenue !", "Votre commune ?"]

            await client.press_button(USER, USER, "uccle")
            reply = await client.wait_for_reply(USER, timeout=3)
            kinds = sorted(e["kind"] for e in reply)
            assert kinds == ["answer_callback", "edit"]
            assert next(e for e in reply if e["kind"] == "edit")["text"] == "Choisi : c:ucc"

            with pytest.raises(LookupError, match=r"no bot message with an inline keyboard"):
                await client.press_button(USER, USER, 1)
            await client.send_text(USER, "/start")
            await client.wait_for_reply(USER, timeout=3)
            with pytest.raises(LookupError, match=r"\[1\] 'Ixelles', \[2\] 'Uccle'"):
                await client.press_button(USER, USER, "Anderlecht")
            await client.press_button(USER, USER, 3)
            reply = await client.wait_for_reply(USER, timeout=3)
            assert any(e.get("text") == "Choisi : c:x" for e in reply)

            with pytest.raises(TimeoutError, match=r"no reply from the bot"):
                await client.wait_for_reply(USER, timeout=0.2)
            await client.wait_until_consumed()
        finally:
            await application.updater.stop()
            await application.stop()


# ---- terminal demo ---------------------------------------------------------------------------


async def test_terminal_chat(emulator: str, bot: Bot) -> None:
    output = io.StringIO()
    offset = 0
    sent_id = 0

    async def next_update() -> Update:
        nonlocal offset
        (update,) = await bot.get_updates(offset=offset, timeout=2)
        offset = update.update_id + 1
        return update

    async def step_start() -> str:
        return "/start"

    async def step_answer_start() -> str:
        nonlocal sent_id
        update = await next_update()
        assert update.message is not None and update.message.text == "/start"
        assert update.message.from_user is not None
        assert update.message.from_user.language_code == "fr"
        assert update.message.from_user.first_name == "Demo"
        sent = await bot.send_message(
            USER,
            "<b>Bonjour</b> &amp; bienvenue\nQue voulez-vous ?",
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard([("Oui", "yes"), ("Non", "no")], [("Annuler", "cancel")]),
        )
        sent_id = sent.message_id
        await _eventually(lambda: "[3] Annuler" in output.getvalue())
        return "2"

    async def step_answer_press() -> str:
        update = await next_update()
        assert update.callback_query is not None and update.callback_query.data == "no"
        await bot.answer_callback_query(update.callback_query.id, text="Noté")
        await bot.edit_message_text("Choix : non", chat_id=USER, message_id=sent_id)
        await _eventually(lambda: "(edited)" in output.getvalue())
        return "/loc 50.85 4.35"

    async def step_check_location() -> str:
        update = await next_update()
        assert update.message is not None and update.message.location is not None
        assert update.message.location.longitude == pytest.approx(4.35)
        return "9"  # the newest message has no button 9: a number to send, like a postcode

    async def step_check_number() -> str:
        update = await next_update()
        assert update.message is not None and update.message.text == "9"
        return "1"  # still no buttons on the newest message: text too

    async def step_check_small_number() -> str:
        update = await next_update()
        assert update.message is not None and update.message.text == "1"
        raise EOFError

    steps: list[Callable[[], Awaitable[str]]] = [
        step_start,
        step_answer_start,
        step_answer_press,
        step_check_location,
        step_check_number,
        step_check_small_number,
    ]

    async def scripted_input(prompt: str) -> str:
        assert prompt == "> "
        if not steps:
            raise EOFError
        return await steps.pop(0)()

    await asyncio.wait_for(
        run_terminal_chat(emulator, USER, input_func=scripted_input, output=output), 5
    )
    text = output.getvalue()
    assert "/loc" in text and "/quit" in text  # the banner
    assert "bot: Bonjour & bienvenue\n     Que voulez-vous ?\n     [1] Oui  [2] Non\n" in text
    assert "     [3] Annuler\n" in text
    assert "bot (notification): Noté" in text
    assert "bot (edited): Choix : non" in text
    assert "!!" not in text  # numbers without their button went as text, no notice
    assert "\033[" not in text  # no ANSI styling when the output is not a TTY


async def test_terminal_chat_default_input_ends_on_eof(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = iter(["hello"])

    def fake_input(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    output = io.StringIO()
    await asyncio.wait_for(run_terminal_chat(emulator, language_code=None, output=output), 3)
    assert "no language_code" in output.getvalue()
    async with EmulatorClient(emulator) as client:
        assert await client.pending_updates() == 1


# ---- fault injection and the attempts log -------------------------------------------------


async def _outcomes(bot: Bot, count: int, chat_id: int = USER) -> list[str]:
    """Send `count` messages; what each one met: ok, 429, 500."""
    seen = []
    for index in range(count):
        try:
            await bot.send_message(chat_id, f"try {index}")
        except RetryAfter:
            seen.append("429")
        except NetworkError as error:
            assert "Internal Server Error" in str(error)
            seen.append("500")
        else:
            seen.append("ok")
    return seen


async def test_random_faults_follow_the_rates_and_the_seed(
    bot: Bot, client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22 warns on RetryAfter without it
    state = await client.random_faults(
        too_many_requests=0.3, server_error=0.2, retry_after=3, seed=11
    )
    assert state["random"]["rates"] == {"429": 0.3, "500": 0.2, "timeout": 0.0}
    first = await _outcomes(bot, 60)
    # The same seed replays the same faults for the same calls.
    await client.random_faults(too_many_requests=0.3, server_error=0.2, retry_after=3, seed=11)
    assert await _outcomes(bot, 60) == first
    assert {"ok", "429", "500"} == set(first)
    assert 8 <= first.count("429") <= 30 and 4 <= first.count("500") <= 22

    attempts = await client.attempts(USER)
    assert len(attempts) == 120
    assert [a["seq"] for a in attempts] == sorted(a["seq"] for a in attempts)
    outcomes = ["ok" if a["outcome"] == "ok" else str(a["error_code"]) for a in attempts]
    assert outcomes == first + first
    refused = [a for a in attempts if a["outcome"] == "error" and a["error_code"] == 429]
    assert {a["retry_after"] for a in refused} == {3}
    assert all(a["received_at"] <= a["answered_at"] for a in attempts)
    assert all(a["method"] == "sendMessage" and a["text"].startswith("try ") for a in attempts)
    # Only the accepted calls were delivered, with the message ids the bot was given.
    events = await client.events(USER)
    assert len(events) == 2 * first.count("ok")
    delivered = [a for a in attempts if a["outcome"] == "ok"]
    assert [a["message_id"] for a in delivered] == [e["message_id"] for e in events]

    await client.clear_faults()
    assert await _outcomes(bot, 5) == ["ok"] * 5
    assert (await client.fault_state())["random"] is None


async def test_random_faults_only_touch_their_methods(bot: Bot, client: EmulatorClient) -> None:
    await client.random_faults(server_error=1.0, methods=["editMessageText"])
    sent = await bot.send_message(USER, "fine")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.edit_message_text("changed", chat_id=USER, message_id=sent.message_id)
    attempts = await client.attempts(USER, method="editMessageText")
    assert [(a["outcome"], a["error_code"]) for a in attempts] == [("error", 500)]
    assert [a["outcome"] for a in await client.attempts(USER, method="sendMessage")] == ["ok"]


async def test_a_timeout_is_never_answered_and_delivers_nothing(
    emulator: str, client: EmulatorClient
) -> None:
    await client.random_faults(timeout=1.0, seed=1)
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(TOKEN, base_url=emulator, request=request) as impatient:
        with pytest.raises(TimedOut):
            await impatient.send_message(USER, "lost on the way")
        # The emulator noticed the client left, and delivered nothing.
        await _eventually_async(lambda: _attempt_count(client), 1)
        (attempt,) = await client.attempts(USER)
        assert attempt["outcome"] == "timeout" and attempt["text"] == "lost on the way"
        assert attempt["answered_at"] - attempt["received_at"] >= 0.3 - 0.01
        assert await client.events(USER) == []
        assert await client.messages(USER) == []
        assert await client.in_flight() == []

        await client.clear_random_faults()
        await impatient.send_message(USER, "this one arrives")
    assert [e["text"] for e in await client.events(USER)] == ["this one arrives"]


async def _attempt_count(client: EmulatorClient) -> int:
    return len(await client.attempts())


async def _eventually_async(
    measure: Callable[[], Awaitable[int]], at_least: int, within: float = 5.0
) -> None:
    deadline = time.monotonic() + within
    while await measure() < at_least:
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_hold_delays_each_call_and_drops_abandoned_ones(
    emulator: str, bot: Bot, client: EmulatorClient
) -> None:
    state = await client.hold(0.4)
    assert state["hold"] == {"seconds": 0.4, "methods": ["sendmessage"]}
    await bot.send_message(USER, "late but there")
    (kept,) = await client.attempts(USER)
    assert kept["outcome"] == "ok"
    assert kept["answered_at"] - kept["received_at"] >= 0.4

    # A client that gives up while its request is held: the request is never processed.
    async with Bot(TOKEN, base_url=emulator, request=HTTPXRequest(read_timeout=0.1)) as hasty:
        with pytest.raises(TimedOut):
            await hasty.send_message(USER, "given up")
    await _eventually_async(lambda: _attempt_count(client), 2)
    abandoned = (await client.attempts(USER))[-1]
    assert (abandoned["outcome"], abandoned["text"]) == ("abandoned", "given up")
    assert [e["text"] for e in await client.events(USER)] == ["late but there"]

    # Other methods are not held.
    await client.hold(60)
    assert (await asyncio.wait_for(bot.get_me(), 5)).id == 123456
    assert (await client.fault_state())["in_flight"] == 0


async def test_releasing_the_hold_processes_the_held_calls(
    bot: Bot, client: EmulatorClient
) -> None:
    await client.hold(60)
    sending = asyncio.create_task(bot.send_message(USER, "released"))

    async def held() -> int:
        return len(await client.in_flight())

    await _eventually_async(held, 1)
    (waiting,) = await client.in_flight()
    assert (waiting["text"], waiting["chat_id"]) == ("released", USER)
    assert await client.events(USER) == []
    await client.release_hold()
    message = await asyncio.wait_for(sending, 5)
    assert [e["message_id"] for e in await client.events(USER)] == [message.message_id]
    assert [a["outcome"] for a in await client.attempts(USER)] == ["ok"]


async def test_counted_faults_are_logged_and_reset_clears_everything(
    bot: Bot, client: EmulatorClient
) -> None:
    await client.inject_fault(403, chat_id=USER)
    await client.random_faults(server_error=0.5, seed=3)
    await client.hold(0.01)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "blocked")
    (attempt,) = await client.attempts(USER)
    assert (attempt["outcome"], attempt["error_code"]) == ("error", 403)
    assert "blocked by the user" in attempt["description"]
    # Calls that name no chat are not logged.
    await bot.get_me()
    assert len(await client.attempts()) == 1

    await client.reset()
    state = await client.fault_state()
    assert (state["faults"], state["random"], state["hold"]) == ([], None, None)
    assert await client.attempts() == []


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("faults/random", {"rates": {"429": 0.7, "500": 0.5}}, "at most 1"),
        ("faults/random", {"rates": {"418": 0.1}}, "keys among"),
        ("faults/random", {"rates": {"429": -0.1}}, "from 0 to 1"),
        ("faults/random", {"rates": {"429": 0.1}, "retry_after": 0}, "at least 1"),
        ("faults/random", {"rates": {}, "methods": ["sendPigeon"]}, "method names"),
        ("faults/random", {"rates": {}, "timeout_seconds": 0}, "positive"),
        ("faults/hold", {"seconds": 0}, "positive"),
        ("faults/hold", {}, "positive"),
    ],
)
async def test_fault_settings_are_validated(
    client: EmulatorClient, path: str, body: dict[str, object], error: str
) -> None:
    with pytest.raises(EmulatorError, match=error):
        await client._request("POST", path, body=body)
    state = await client.fault_state()
    assert (state["random"], state["hold"]) == (None, None)


async def test_a_new_emulator_never_gives_an_update_id_an_earlier_one_gave() -> None:
    """The demo and the preview start a new emulator with each process, over the same
    database, whose inbox remembers update ids: like Telegram, ids never repeat."""
    earlier = EmulatorState()
    given = [earlier.enqueue({"message": {"text": str(n)}}) for n in range(5)]
    await asyncio.sleep(0.01)  # a restart takes longer than this
    assert EmulatorState().enqueue({"message": {"text": "again"}}) > max(given)
