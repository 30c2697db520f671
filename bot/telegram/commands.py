"""The bot's command menus (setMyCommands): the citizens' commands in each language, and
/coach added in a linked coach's own chat."""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
)
from telegram.error import TelegramError

from bot.text.i18n import LANGUAGES, N_, Translator

log = logging.getLogger(__name__)


COMMANDS: dict[str, str] = {
    "start": N_("Start or continue a proposal"),
    "new": N_("Start a new proposal"),
    "back": N_("Go back one question"),
    "pause": N_("Pause; your draft is kept"),
    "status": N_("My proposals and their status"),
    "withdraw": N_("Withdraw a proposal"),
    "language": N_("Change the language"),
    "help": N_("How this works"),
    "privacy": N_("What is stored about me"),
    "my_data": N_("Get a copy of my data"),
    "delete_me": N_("Erase my personal data"),
}


COACH_COMMAND = N_("Coach menu: what you follow, alerts")


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


async def register_commands(bot: Bot, default_language: str) -> None:
    """setMyCommands in each language, and the default language for everyone else."""
    for language in (*LANGUAGES, None):
        commands = command_list(language or default_language)
        try:
            await bot.set_my_commands(commands, language_code=language)
        except TelegramError:
            log.warning("could not register the commands for %s", language or "default")
