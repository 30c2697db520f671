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
from telegram.error import BadRequest, Conflict, InvalidToken
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.emulator.client import EmulatorClient
from bot.emulator.server import parse_html, start_emulator
from bot.emulator.terminal import html_to_terminal, run_terminal_chat

TOKEN = "123456:EMULATOR-test-token"
USER = 4242


@pytest.fixture
async def emulator() -> AsyncIterator[str]:
    runner, url = await start_emulator(token=TOKEN)
    try:
        yield url
    finally:
        await runner.cleanup()


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
    assert me.id == 1000000 and me.is_bot and me.username == "intake_demo_bot"
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
    assert sent.from_user is not None and sent.from_user.id == 1000000

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
            "text": "Done",
            "plain_text": "Done",
            "parse_mode": None,
            "reply_markup": None,
            "edited": True,
        }
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
        return "9"  # no such button: a notice, not a crash

    steps: list[Callable[[], Awaitable[str]]] = [
        step_start,
        step_answer_start,
        step_answer_press,
        step_check_location,
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
    assert "!! no bot message with an inline keyboard" in text  # the edit dropped it
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
