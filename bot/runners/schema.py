"""The database made ready before a command uses it: the schema, the starter catalogue, and
the sentence vectors that are missing or stale.

Apart from `bot.runners.process` so that `intake migrate` and the one-shot commands do not
import the bot, the back-office and the dispatcher."""

from __future__ import annotations

import asyncio

from bot.services.catalogue import seed_starter_catalogue
from bot.services.sentence_vectors import ensure_vectors
from storage.database import create_engine, create_sessionmaker, migrate


async def prepare_database(url: str) -> None:
    """Create or upgrade the schema, load the starter catalogue into a fresh database, and
    compute the sentence vectors of initiatives and proposals that have none (or stale
    ones: after the encoder changed)."""
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    try:
        sessions = create_sessionmaker(engine)
        await seed_starter_catalogue(sessions)
        await ensure_vectors(sessions)
    finally:
        await engine.dispose()
