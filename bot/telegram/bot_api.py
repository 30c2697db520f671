"""What is known of the bot outside a handler: its id (from its token), and its username for
coach invitation links (`intake coach invite`, the back-office's /coaches page)."""

from __future__ import annotations

import logging

from telegram import Bot

log = logging.getLogger(__name__)


def bot_id(bot: Bot) -> int:
    """The bot's id, which is how its token starts: known without asking Telegram, and what
    keys its updates in the inbox."""
    return int(bot.token.partition(":")[0])


async def fetch_bot_username(token: str, base_url: str) -> str:
    """The bot's @username from getMe (raises telegram.error.TelegramError on failure)."""
    async with Bot(token, base_url=base_url) as bot:
        return str(bot.username)


class UsernameLookup:
    """The bot's username, for invite links: set by the running bot, or asked once with
    getMe; None while unknown (failures are logged and asked again next time)."""

    def __init__(self, token: str | None = None, base_url: str | None = None) -> None:
        self.token = token
        self.base_url = base_url
        self.value: str | None = None

    def set(self, username: str | None) -> None:
        self.value = username or None

    async def __call__(self) -> str | None:
        if self.value is None and self.token and self.base_url:
            try:
                self.value = await fetch_bot_username(self.token, self.base_url)
            except Exception as error:
                log.warning("could not ask Telegram for the bot's username: %s", error)
        return self.value
