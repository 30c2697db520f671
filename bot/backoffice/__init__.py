"""The staff back-office: an aiohttp web application (see `bot.backoffice.app.create_app`)."""

from bot.backoffice.app import create_app

__all__ = ["create_app"]
