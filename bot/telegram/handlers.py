"""The handlers: each turns an Update into an input for the runner, and the runner's result
into Bot API calls (replies, the pressed message edited, toasts, the coach's command menu)."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.flows.base import Input, InputKind, Reply
from bot.flows.runner import Result, Runner, Sender
from bot.telegram.bot_api import bot_id
from bot.telegram.commands import register_commands, set_coach_commands
from bot.text.i18n import Translator, language_from_telegram
from bot.text.staff_summary import TAKE_PREFIX as STAFF_TAKE_PREFIX
from storage.inbox import UpdateKey

log = logging.getLogger(__name__)

BotApplication = Application[Any, Any, Any, Any, Any, Any]
"""The bot's python-telegram-bot Application (its context types are the defaults)."""


COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


def message_input(message: Message) -> Input:
    if message.text is not None:
        match = COMMAND.match(message.text.strip())
        if match:
            return Input(InputKind.COMMAND, match.group(1).lower(), (match.group(2) or "").strip())
        return Input(InputKind.TEXT, message.text)
    if message.location is not None:
        return Input(
            InputKind.LOCATION,
            latitude=message.location.latitude,
            longitude=message.location.longitude,
        )
    return Input(InputKind.UNSUPPORTED)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


def _not_staff_take(data: object) -> bool:
    return not (isinstance(data, str) and data.startswith(STAFF_TAKE_PREFIX))


async def _answer(query: CallbackQuery, toast: str | None) -> None:
    """Answer a button press. An answer sent again (the update was taken up after a crash)
    finds the press already answered, or too old: only the toast is lost, not the replies."""
    try:
        await query.answer(toast)
    except BadRequest as error:
        log.info("button press %s not answered: %s", query.id, error)


class TelegramFrontend:
    def __init__(self, runner: Runner, default_language: str) -> None:
        self.runner = runner
        self.default_language = default_language
        self._errors: dict[int, BaseException] = {}

    def register(self, application: BotApplication) -> None:
        private = filters.ChatType.PRIVATE
        application.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE, self.on_message)
        )
        application.add_handler(MessageHandler(private & filters.UpdateType.EDITED, self.on_edited))
        # Order matters: python-telegram-bot checks a pattern only against data that is there,
        # so a press without data matches any pattern. The conversation's buttons come first
        # and take it (it gets a hint); the staff group's "take it" is left to the next one.
        application.add_handler(CallbackQueryHandler(self.on_button, pattern=_not_staff_take))
        application.add_handler(
            CallbackQueryHandler(self.on_staff_take, pattern=f"^{re.escape(STAFF_TAKE_PREFIX)}")
        )
        application.add_handler(MessageHandler(~private, self.on_group))
        application.add_error_handler(self.on_error)

    async def start_up(self, application: BotApplication) -> None:
        """post_init: before the first update, the command menus in each language and the
        similarity index."""
        await register_commands(application.bot, self.default_language)
        await self.runner.warm_up()

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self._process(update, context, message_input(update.effective_message))

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._process(update, context, Input(InputKind.EDITED))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        message = query.message
        if message is None or message.chat.type != "private":
            await _answer(query, None)
            return
        await self._process(update, context, Input(InputKind.BUTTON, query.data or ""))

    async def on_staff_take(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """ "Take it" under a new proposal in the staff group: the presser's staff account gets
        it if nobody has it. The message itself is edited through the outbox, as for a change
        made in the back-office."""
        query, chat, user = update.callback_query, update.effective_chat, update.effective_user
        assert query is not None and chat is not None
        result = None
        if user is not None:
            result = await self.runner.take_for_staff(chat.id, query.data or "", user.id)
        await _answer(query, result.toast if result is not None else None)

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot only talks in private chats; in a group it says so, briefly."""
        message = update.effective_message
        if message is None or update.edited_message is not None:
            return
        user = update.effective_user
        t = Translator(
            language_from_telegram(user.language_code if user else None) or self.default_language
        )
        link = f"https://t.me/{context.bot.username}"
        await message.reply_text(
            t.gettext(
                "I only talk in private chats, so that your proposal stays yours. "
                'Write to me here: <a href="{link}">{link}</a>'
            ).format(link=html.escape(link))
        )

    async def _process(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, inp: Input
    ) -> None:
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        sender = Sender(
            chat_id=chat.id,
            user_id=user.id if user else chat.id,
            language_code=user.language_code if user else None,
        )
        result = await self.runner.handle(
            sender, inp, UpdateKey(bot_id(context.bot), update.update_id)
        )
        await self._deliver(update, context, result)

    async def _deliver(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, result: Result
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        query = update.callback_query
        if query is not None:
            # The toast and the pressed message's new look do not depend on each other: one
            # round trip for both. The replies go after, in order (a failed edit is sent as
            # the first of them).
            await asyncio.gather(_answer(query, result.toast), self._update_pressed(query, result))
        for reply in result.replies:
            await context.bot.send_message(chat.id, reply.text, reply_markup=keyboard(reply))
            for document in reply.documents:
                upload = InputFile(document.content.encode("utf-8"), filename=document.filename)
                await context.bot.send_document(chat.id, upload)
        if result.coach_commands is not None:
            await set_coach_commands(context.bot, chat.id, result.coach_commands)

    async def _update_pressed(self, query: CallbackQuery, result: Result) -> None:
        """Edit the message whose button was pressed, or remove its buttons."""
        pressed = query.message
        if not isinstance(pressed, Message):
            return
        if result.edit is not None:
            try:
                await pressed.edit_text(result.edit.text, reply_markup=keyboard(result.edit))
            except BadRequest as error:
                if "not modified" not in str(error):
                    result.replies.insert(0, result.edit)
        elif result.close_pressed:
            try:
                await pressed.edit_reply_markup(reply_markup=None)
            except BadRequest:
                log.debug("could not remove the keyboard of message %s", pressed.id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Keep the error for the inbox worker, which retries the update and tells the citizen
        (`bot.telegram.inbox`)."""
        if isinstance(update, Update) and context.error is not None:
            self._errors[update.update_id] = context.error
        else:
            log.error("error outside an update", exc_info=context.error)

    def take_error(self, update_id: int) -> BaseException | None:
        """The error raised while the Application processed this update, if any."""
        return self._errors.pop(update_id, None)
