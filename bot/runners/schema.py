"""The database made ready before a command uses it: the schema, and the starter catalogue.

Apart from `bot.runners.process` so that `intake migrate` and the one-shot commands do not
import the bot, the back-office and the dispatcher."""

from __future__ import annotations

import asyncio

from bot.services.catalogue import seed_starter_catalogue
from storage.database import create_engine, create_sessionmaker, migrate


async def prepare_database(url: str) -> None:
    """Create or upgrade the schema, and load the starter catalogue into a fresh database."""
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    try:
        await seed_starter_catalogue(create_sessionmaker(engine))
    finally:
        await engine.dispose()
