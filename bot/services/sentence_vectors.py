"""Sentence vectors kept with the initiatives and proposals they were computed from.

Encoding a text takes milliseconds; a catalogue of 100 000 initiatives, minutes. So each
row keeps its vector (`matching.semantic.to_bytes`) and the name of the encoder that made
it, and a similarity index is built from the stored vectors in seconds. Vectors are
computed for the rows that have none, or one made by another encoder: after an import (in
the background after a back-office upload: `BackgroundVectors`), at start-up (a fresh
database's starter catalogue, or every row after the encoder changed), and for a proposal
at its submission (`bot.services.chat`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching.semantic import (
    Encoder,
    UniversalSentenceEncoder,
    Vectors,
    default_encoder,
    encoder_name,
    to_bytes,
)
from storage.initiatives import VectorOwner, missing_vectors, store_vectors
from storage.models import Initiative, Proposal

log = logging.getLogger(__name__)

BATCH = 512
"""Rows encoded, then stored, at a time."""

Progress = Callable[[int, int], None]
"""Called with (rows done, rows to do) after each batch."""

PARALLEL_FROM = 5_000
"""Texts from which they are encoded in worker processes, one per core (the encoder runs on
one thread: its matrices are too small for BLAS threads to help, while processes scale).
Each worker loads its own model (about 2 s and 120 MB): worth it from a few thousand
texts."""


def parallel_workers(texts: int, encoder: Encoder) -> int:
    """How many worker processes encode *texts* texts (0: this process does)."""
    cores = os.cpu_count() or 1
    if texts < PARALLEL_FROM or cores < 2 or not isinstance(encoder, UniversalSentenceEncoder):
        return 0  # another encoder (a test's) could not be loaded in a worker
    return cores


def _worker_pool(workers: int) -> ProcessPoolExecutor:
    # "spawn": a fork would copy this process's threads' locks (database drivers, the
    # event loop's executor) in whatever state they are.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _encode_in_worker(texts: list[str]) -> Vectors:
    encoder = default_encoder()
    if encoder is None:
        raise RuntimeError("the sentence encoder could not be loaded in a worker process")
    return encoder.encode(texts)


def encode_texts(
    encoder: Encoder, texts: Sequence[str], progress: Progress | None = None
) -> list[Vectors]:
    """The vectors of *texts*, in batches of :data:`BATCH`, in worker processes when there
    are many (:func:`parallel_workers`)."""
    batches = [list(texts[start : start + BATCH]) for start in range(0, len(texts), BATCH)]
    workers = parallel_workers(len(texts), encoder)
    pool = _worker_pool(workers) if workers else None
    encoded = pool.map(_encode_in_worker, batches) if pool else map(encoder.encode, batches)
    out: list[Vectors] = []
    done = 0
    try:
        for vectors in encoded:
            out.append(vectors)
            done += len(vectors)
            if progress is not None:
                progress(done, len(texts))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return out


async def _encoded(encoder: Encoder, batches: list[list[str]]) -> AsyncGenerator[Vectors, None]:
    """The vectors of each batch in turn, computed off the event loop."""
    workers = parallel_workers(sum(map(len, batches)), encoder)
    if not workers:
        for batch in batches:
            yield await asyncio.to_thread(encoder.encode, batch)
        return
    loop = asyncio.get_running_loop()
    pool = _worker_pool(workers)
    try:
        pending = [loop.run_in_executor(pool, _encode_in_worker, batch) for batch in batches]
        for vectors in pending:
            yield await vectors
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def ensure_vectors(
    sessions: async_sessionmaker[AsyncSession], progress: Progress | None = None
) -> int:
    """Compute and store the missing or stale vectors of initiatives, then of proposals;
    how many were computed. Nothing is loaded when none is missing; 0 when the encoder is
    not available."""
    name = encoder_name()
    if name is None:
        return 0
    computed = 0
    for model in (Initiative, Proposal):
        computed += await _ensure(sessions, model, name, progress)
    return computed


async def _ensure(
    sessions: async_sessionmaker[AsyncSession],
    model: VectorOwner,
    name: str,
    progress: Progress | None,
) -> int:
    async with sessions() as session:
        rows = await missing_vectors(session, model, name)
    if not rows:
        return 0
    encoder = await asyncio.to_thread(default_encoder)
    if encoder is None:
        return 0
    log.info("computing the sentence vectors of %d %s", len(rows), model.__tablename__)
    batches = [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]
    texts = [[row.text for row in batch] for batch in batches]
    done = 0
    async with contextlib.aclosing(_encoded(encoder, texts)) as encoded:
        async for vectors in encoded:
            batch = batches[done // BATCH]  # every batch but the last has BATCH rows
            async with sessions.begin() as session:
                await store_vectors(session, model, batch, [to_bytes(v) for v in vectors], name)
            done += len(batch)
            if progress is not None:
                progress(done, len(rows))
    return len(rows)


class BackgroundVectors:
    """`ensure_vectors` in the background, for an import that must not wait for it: a
    back-office upload of tens of thousands of initiatives would take a minute more to
    answer, longer than a reverse proxy waits. Runs take turns; one started while another
    runs finds the vectors that one stored and computes only the rest. What `close`
    interrupts is computed at the next start-up (`bot.runners.schema.prepare_database`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._turn = asyncio.Lock()
        self._runs: set[asyncio.Task[int]] = set()

    def start(self) -> None:
        """Compute the missing vectors after the runs already started."""
        run = asyncio.create_task(self._run())
        self._runs.add(run)
        run.add_done_callback(self._finished)

    async def _run(self) -> int:
        async with self._turn:
            return await ensure_vectors(self._sessions)

    def _finished(self, run: asyncio.Task[int]) -> None:
        self._runs.discard(run)
        if not run.cancelled() and run.exception() is not None:
            log.error(
                "could not compute the sentence vectors (the next start-up will)",
                exc_info=run.exception(),
            )

    async def wait(self) -> None:
        """Until the runs started so far are done."""
        await asyncio.gather(*self._runs)

    async def close(self) -> None:
        """Stop the runs in progress (the encoding of a batch under way finishes in its
        worker thread; its vectors are not stored)."""
        runs = list(self._runs)
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
