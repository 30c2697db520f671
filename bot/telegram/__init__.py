"""The python-telegram-bot adapter: the application, its handlers and its commands."""
