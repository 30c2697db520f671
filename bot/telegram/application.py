"""The Telegram side: turns updates into conversation inputs and results into messages.

All handlers are registered here, in one place. Conversation state is not kept by
python-telegram-bot: every update goes through `Runner`, which keeps it in the database.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.flows.base import Input, InputKind, Reply
from bot.flows.runner import Result, Runner, Sender
from bot.text.i18n import LANGUAGES, N_, Translator, language_from_telegram
from bot.text.staff_summary import TAKE_PREFIX as STAFF_TAKE_PREFIX

BotApplication = Application[Any, Any, Any, Any, Any, Any]
"""The bot's python-telegram-bot Application (its context types are the defaults)."""

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)

COMMANDS: dict[str, str] = {
    "start": N_("Start or continue a proposal"),
    "new": N_("Start a new proposal"),
    "back": N_("Go back one question"),
    "cancel": N_("Pause; your draft is kept"),
    "status": N_("My proposals and their status"),
    "withdraw": N_("Withdraw a proposal"),
    "language": N_("Change the language"),
    "help": N_("How this works"),
    "privacy": N_("What is stored about me"),
    "delete_me": N_("Erase my personal data"),
}
COACH_COMMAND = N_("Coach menu: what you follow, alerts")


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


class TelegramFrontend:
    def __init__(self, runner: Runner, default_language: str) -> None:
        self.runner = runner
        self.default_language = default_language

    def register(self, application: BotApplication) -> None:
        private = filters.ChatType.PRIVATE
        application.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE, self.on_message)
        )
        application.add_handler(MessageHandler(private & filters.UpdateType.EDITED, self.on_edited))
        # Order matters: the staff group's "take it" first, every other button after it.
        application.add_handler(
            CallbackQueryHandler(self.on_staff_take, pattern=f"^{re.escape(STAFF_TAKE_PREFIX)}")
        )
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_handler(MessageHandler(~private, self.on_group))
        application.add_error_handler(self.on_error)

    async def start_up(self, application: BotApplication) -> None:
        """post_init: before the first update, the command menus in each language and the
        similarity index."""
        await register_commands(application, self.default_language)
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
            await query.answer()
            return
        await self._process(update, context, Input(InputKind.BUTTON, query.data or ""))

    async def on_staff_take(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """ "Take it" under a new proposal in the staff group: the first one to press wins."""
        query, chat, user = update.callback_query, update.effective_chat, update.effective_user
        assert query is not None and chat is not None
        taker = "?"
        if user is not None:
            taker = user.full_name + (f" (@{user.username})" if user.username else "")
        result = await self.runner.take_for_staff(chat.id, query.data or "", taker)
        if result is None:
            await query.answer()
            return
        await query.answer(result.toast)
        if result.text is not None and isinstance(query.message, Message):
            try:
                await query.message.edit_text(result.text, reply_markup=None)
            except BadRequest as error:
                if "not modified" not in str(error):
                    raise

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
        result = await self.runner.handle(sender, inp, update_id=update.update_id)
        await self._deliver(update, context, result)

    async def _deliver(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, result: Result
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        query = update.callback_query
        if query is not None:
            await query.answer(result.toast)
            pressed = query.message
            if isinstance(pressed, Message):
                if result.edit is not None:
                    try:
                        await pressed.edit_text(
                            result.edit.text, reply_markup=keyboard(result.edit)
                        )
                    except BadRequest as error:
                        if "not modified" not in str(error):
                            result.replies.insert(0, result.edit)
                elif result.close_pressed:
                    try:
                        await pressed.edit_reply_markup(reply_markup=None)
                    except BadRequest:
                        log.debug("could not remove the keyboard of message %s", pressed.id)
        for reply in result.replies:
            await context.bot.send_message(chat.id, reply.text, reply_markup=keyboard(reply))
        if result.coach_commands is not None:
            await set_coach_commands(context.bot, chat.id, result.coach_commands)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log with the update id; tell the citizen their draft is safe. Never re-raise."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("error while handling update %s", update_id, exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        try:
            language = await self.runner.language_of(
                update.effective_chat.id, user.language_code if user else None
            )
            t = Translator(language)
            if update.callback_query is not None:
                await update.callback_query.answer()
            await context.bot.send_message(
                update.effective_chat.id,
                t.gettext(
                    "Sorry, something went wrong on our side. Your draft is safe: please try "
                    "again in a moment."
                ),
            )
        except Exception:
            log.exception("could not tell chat %s about the error", update.effective_chat.id)


def command_list(language: str, *, coach: bool = False) -> list[BotCommand]:
    t = Translator(language)
    commands = [BotCommand(name, t.gettext(text)) for name, text in COMMANDS.items()]
    if coach:
        commands.append(BotCommand("coach", t.gettext(COACH_COMMAND)))
    return commands


async def set_coach_commands(bot: Bot, chat_id: int, language: str) -> None:
    """A linked coach sees /coach in their chat's command menu."""
    try:
        await bot.set_my_commands(
            command_list(language, coach=True), scope=BotCommandScopeChat(chat_id)
        )
    except TelegramError:
        log.warning("could not show the coach commands in chat %s", chat_id)


async def register_commands(application: BotApplication, default_language: str) -> None:
    """setMyCommands in each language, and the default language for everyone else."""
    for language in (*LANGUAGES, None):
        commands = command_list(language or default_language)
        try:
            await application.bot.set_my_commands(commands, language_code=language)
        except TelegramError:
            log.warning("could not register the commands for %s", language or "default")


def telegram_rate_limiter() -> AIORateLimiter:
    """Telegram's documented limits; a 429 is not retried here (the outbox retries)."""
    return AIORateLimiter(max_retries=0)


def build_application(
    token: str,
    base_url: str,
    runner: Runner,
    default_language: str,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limited: bool = True,
) -> BotApplication:
    """The bot. `rate_limited`: every request of the process (replies and the outbox) stays
    under Telegram's limits, 30 messages a second overall and 20 a minute per group, through
    python-telegram-bot's AIORateLimiter (flood errors are left to the caller)."""
    frontend = TelegramFrontend(runner, default_language)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .post_init(frontend.start_up)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
    )
    if rate_limited:
        builder = builder.rate_limiter(telegram_rate_limiter())
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    frontend.register(application)
    return application


@contextlib.asynccontextmanager
async def polling(application: BotApplication) -> AsyncIterator[None]:
    """The bot serving Telegram by long polling inside the caller's event loop (beside the
    back-office and the dispatcher), as `Application.run_polling` would: initialize,
    post_init, start, poll; on exit, stop polling and the application."""
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()
