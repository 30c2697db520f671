"""A bare python-telegram-bot echo bot, the yardstick of `intake bench load`.

It answers every text with the same text, processes updates concurrently and touches no
database: what python-telegram-bot and the Bot API stand-in can do on this machine, against
which the real bot is measured in the same run. Run as
``python -m bot.runners.benchmarks.echo`` with ``TELEGRAM_TOKEN`` and ``TELEGRAM_API_URL``.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def main() -> None:
    application = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_URL"])
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
