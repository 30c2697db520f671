"""CPU-heavy work runs in a worker thread, not on the event loop that answers citizens and
staff: parsing an uploaded catalogue, building the similarity index (after the first
build, in the background: nobody waits for it), searching it and adding to it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import bot.services.catalogue
from bot.services.catalogue import import_catalogue, seed_starter_catalogue
from bot.services.matcher import Matcher
from matching.catalogue import parse_catalogue
from matching.semantic import Encoder
from matching.similar import Document, Match, Query, SimilarityIndex
from storage.database import create_sessionmaker
from storage.models import Initiative
from tests.factories import make_proposal

T = TypeVar("T")

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


async def starter_matcher(sessions: async_sessionmaker[AsyncSession]) -> Matcher:
    """A matcher over the starter catalogue, its first build done (waited for)."""
    await seed_starter_catalogue(sessions)
    matcher = Matcher()
    async with sessions() as session:
        await matcher.refresh(session)
    return matcher


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
    assert await matcher.search(Query(text="Un compost collectif dans la rue", language="fr"))


async def test_a_changed_catalogue_is_indexed_in_the_background_meanwhile_the_old_index_serves(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = create_sessionmaker(engine)
    matcher = await starter_matcher(sessions)
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
    assert await matcher.search(Query(text="Un compost collectif dans la rue", language="fr"))
    release.set()
    for _ in range(200):
        if f"i{added}" in matcher.index:
            break
        await asyncio.sleep(0.05)
    assert f"i{added}" in matcher.index


async def test_a_search_runs_in_a_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = create_sessionmaker(engine)
    matcher = await starter_matcher(sessions)
    threads: list[threading.Thread] = []
    search = SimilarityIndex.search

    def recording_search(index: SimilarityIndex, *args: Any, **options: Any) -> list[Match]:
        threads.append(threading.current_thread())
        return search(index, *args, **options)

    monkeypatch.setattr(SimilarityIndex, "search", recording_search)
    assert await matcher.search(Query(text="Un compost collectif dans la rue", language="fr"))
    assert threads and threads[0] is not threading.main_thread()


class OneAtATime:
    """Stands in for the matcher's index: records each call with its thread, and the calls
    that began while another was running (none when the matcher serialises them)."""

    def __init__(self, index: SimilarityIndex) -> None:
        self._index = index
        self._busy = threading.Lock()
        self.calls: list[tuple[str, threading.Thread]] = []
        self.overlapping: list[str] = []

    @property
    def encoder(self) -> Encoder | None:
        return self._index.encoder

    def _alone(self, name: str, call: Callable[[], T]) -> T:
        alone = self._busy.acquire(blocking=False)
        if not alone:
            self.overlapping.append(name)
        try:
            self.calls.append((name, threading.current_thread()))
            time.sleep(0.02)  # time for another call to begin, were calls not serialised
            return call()
        finally:
            if alone:
                self._busy.release()

    def search(self, query: Query, k: int = 5, exclude: Collection[str] = ()) -> list[Match]:
        return self._alone("search", lambda: self._index.search(query, k, exclude))

    def add(self, document: Document) -> None:
        self._alone("add", lambda: self._index.add(document))

    def remove(self, document_id: str) -> bool:
        return self._alone("remove", lambda: self._index.remove(document_id))


async def test_searches_and_changes_of_the_index_take_turns_in_worker_threads(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is not thread-safe: concurrent searches, the addition of a new proposal
    (encoded: it has no stored vector) and a withdrawal never run at the same time."""
    sessions = create_sessionmaker(engine)
    matcher = await starter_matcher(sessions)
    index = OneAtATime(matcher.index)
    monkeypatch.setattr(matcher, "index", index)
    async with sessions.begin() as session:
        proposal = await make_proposal(session)
    matcher.invalidate()
    query = Query(text="Un compost collectif dans la rue", language="fr")
    async with sessions() as session:
        await asyncio.gather(
            matcher.refresh(session),
            *(matcher.search(query) for _ in range(4)),
            matcher.forget_proposal(proposal.id),
        )
    assert sorted(name for name, _ in index.calls) == ["add", "remove"] + ["search"] * 4
    assert index.overlapping == []
    assert threading.main_thread() not in {thread for _, thread in index.calls}
