"""CPU-heavy work runs in a worker thread, not on the event loop that answers citizens and
staff: parsing an uploaded catalogue, and building the similarity index (after the first
build, in the background: nobody waits for it)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.services.catalogue
from bot.services.catalogue import import_catalogue, seed_starter_catalogue
from bot.services.matcher import Matcher
from matching.catalogue import parse_catalogue
from matching.similar import Query, SimilarityIndex
from storage.database import create_sessionmaker
from storage.models import Initiative

CSV = (
    b"external_id,name,description,commune,themes,language\n"
    b"t-1,Compost de quartier,Un compost collectif pour les voisins,1030,compost,fr\n"
)


async def test_a_catalogue_is_parsed_in_a_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []

    def parse(data: bytes, format: str) -> Any:
        threads.append(threading.current_thread())
        return parse_catalogue(data, format)

    monkeypatch.setattr(bot.services.catalogue, "parse_catalogue", parse)
    result = await import_catalogue(create_sessionmaker(engine), CSV, "csv")
    assert result.report.added == ["t-1"]
    assert threads and threads[0] is not threading.main_thread()


async def test_the_similarity_index_is_built_in_a_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = create_sessionmaker(engine)
    await seed_starter_catalogue(sessions)
    threads: list[threading.Thread] = []
    build = SimilarityIndex.build

    def recording_build(documents: Any, **options: Any) -> SimilarityIndex:
        threads.append(threading.current_thread())
        return build(documents, **options)

    monkeypatch.setattr(SimilarityIndex, "build", recording_build)
    matcher = Matcher()
    async with sessions() as session:
        await matcher.refresh(session)
    assert threads and threads[0] is not threading.main_thread()
    assert matcher.search(Query(text="Un compost collectif dans la rue", language="fr"))


async def test_a_changed_catalogue_is_indexed_in_the_background_meanwhile_the_old_index_serves(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = create_sessionmaker(engine)
    await seed_starter_catalogue(sessions)
    matcher = Matcher()
    async with sessions() as session:
        await matcher.refresh(session)  # the first build is waited for
    await import_catalogue(sessions, CSV, "csv")
    async with sessions() as session:
        added = await session.scalar(select(Initiative.id).where(Initiative.external_id == "t-1"))
    release = threading.Event()
    build = SimilarityIndex.build

    def slow_build(documents: Any, **options: Any) -> SimilarityIndex:
        release.wait(10)
        return build(documents, **options)

    monkeypatch.setattr(SimilarityIndex, "build", slow_build)
    matcher.invalidate()
    async with sessions() as session:
        await asyncio.wait_for(matcher.refresh(session), 2)  # does not wait for the build
    assert f"i{added}" not in matcher.index
    assert matcher.search(Query(text="Un compost collectif dans la rue", language="fr"))
    release.set()
    for _ in range(200):
        if f"i{added}" in matcher.index:
            break
        await asyncio.sleep(0.05)
    assert f"i{added}" in matcher.index
