"""The similarity index over the catalogue and earlier proposals, kept in step with storage.

The index lives in memory; it is rebuilt when the catalogue changes and gets new proposals
incrementally, so several bot instances sharing one database all see what the others
stored, at most `REFRESH_SECONDS` late.

Building the index over tens of thousands of initiatives takes seconds of CPU. Only the
first build is waited for (at start-up, `Runner.warm_up`); later ones run in a worker
thread in the background while searches keep using the old index, so that the citizen
whose search noticed a new catalogue does not hold their conversation's transaction (and,
on SQLite, the database) for the whole build.

Searching (encoding the query, scoring candidates) and adding a proposal without a stored
vector (encoding it) take milliseconds of CPU each, so they run in worker threads too, not
on the event loop that answers everyone else. `SimilarityIndex` is not thread-safe (even a
search may refresh its weights), so every use of the index, and its replacement by a new
one, holds `Matcher._index_lock`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from matching.semantic import Vectors, default_encoder, from_bytes, to_bytes
from matching.similar import Document, Match, Query, SimilarityIndex, document_text
from storage.initiatives import InitiativeForMatching, catalogue_stamp, initiatives_for_matching
from storage.models import Proposal
from storage.proposals import proposals_for_matching

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
MAX_MATCHES = 5


@dataclass(frozen=True)
class Similar:
    """A match with what the citizen may be shown of it."""

    document_id: str
    kind: str  # "initiative" or "proposal"
    database_id: int
    name: str | None
    """None for an earlier proposal whose author did not agree to share: only its subject shows."""
    commune: str | None
    contactable: bool
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Entry:
    kind: str
    database_id: int
    name: str | None
    commune: str | None
    contactable: bool


def stored_vector(vector: bytes | None, model: str | None, encoder: str | None) -> Vectors | None:
    """A stored vector the index can use: made by its encoder (else stale: recomputed)."""
    if vector is None or encoder is None or model != encoder:
        return None
    try:
        return from_bytes(vector)
    except ValueError:
        return None


def initiative_document(initiative: InitiativeForMatching, encoder: str | None) -> Document:
    return Document(
        id=f"i{initiative.id}",
        name=initiative.name,
        description=initiative.description,
        themes=tuple(initiative.themes),
        commune=initiative.commune_refnis,
        language=initiative.language,
        vector=stored_vector(initiative.vector, initiative.vector_model, encoder),
    )


def proposal_document(proposal: Proposal, encoder: str | None) -> Document:
    return Document(
        id=f"p{proposal.id}",
        name=proposal.title,
        description=proposal.description,
        themes=tuple(proposal.themes),
        commune=proposal.commune_refnis,
        language=proposal.language,
        vector=stored_vector(proposal.vector, proposal.vector_model, encoder),
    )


def _log_failed_build(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not rebuild the similarity index", exc_info=task.exception())


@dataclass(frozen=True)
class _Snapshot:
    """What an index is built from, read in one transaction."""

    stamp: object
    initiatives: list[InitiativeForMatching]
    proposals: list[Proposal]


def _add_proposal(index: SimilarityIndex, entries: dict[str, _Entry], proposal: Proposal) -> None:
    """Index *proposal* (encoding it when its stored vector is missing or stale)."""
    encoder = index.encoder
    document = proposal_document(proposal, encoder.name if encoder is not None else None)
    index.add(document)
    shared = proposal.consent_share and proposal.citizen_id is not None
    entries[document.id] = _Entry(
        "proposal",
        proposal.id,
        proposal.title if shared else None,
        proposal.commune_refnis,
        shared,
    )


class Matcher:
    def __init__(self) -> None:
        # Empty until the first refresh, which waits for the real one (with the encoder).
        self.index = SimilarityIndex(semantic=False)
        self._entries: dict[str, _Entry] = {}
        self._stamp: object = None
        self._last_proposal_id = 0
        self._checked_at = -REFRESH_SECONDS
        self._lock = asyncio.Lock()
        self._index_lock = threading.Lock()
        """Held by whatever reads or changes `index` and `_entries` (in worker threads)."""
        self._building: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """Look at the database again at the next search (after a submission here)."""
        self._checked_at = -REFRESH_SECONDS

    async def refresh(self, session: AsyncSession) -> None:
        """Bring the index up to date with what `session` sees: new proposals at once; a
        changed catalogue by a rebuild, waited for only when there is no index yet."""
        if time.monotonic() - self._checked_at < REFRESH_SECONDS:
            return
        async with self._lock:
            stamp = await catalogue_stamp(session)
            building = self._building is not None and not self._building.done()
            if stamp != self._stamp and not building:
                snapshot = _Snapshot(
                    stamp,
                    await initiatives_for_matching(session),
                    await proposals_for_matching(session),
                )
                self._building = asyncio.create_task(self._rebuild(snapshot))
                if self._stamp is None:
                    await self._building
                else:
                    self._building.add_done_callback(_log_failed_build)
            else:
                new = await proposals_for_matching(session, self._last_proposal_id)
                if new:
                    await asyncio.to_thread(self._add_proposals, new)
            self._checked_at = time.monotonic()

    async def _rebuild(self, snapshot: _Snapshot) -> None:
        await asyncio.to_thread(self._build_and_swap, snapshot)
        self._stamp = snapshot.stamp

    def _build_and_swap(self, snapshot: _Snapshot) -> None:
        """Build an index over *snapshot*, then put it in place of the current one. CPU (the
        encoder's loading, the documents, the build): call from a worker thread."""
        encoder = default_encoder()
        name = encoder.name if encoder is not None else None
        entries: dict[str, _Entry] = {}
        documents = []
        for initiative in snapshot.initiatives:
            document = initiative_document(initiative, name)
            documents.append(document)
            entries[document.id] = _Entry(
                "initiative", initiative.id, initiative.name, initiative.commune_refnis, True
            )
        index = SimilarityIndex.build(documents)
        for proposal in snapshot.proposals:
            _add_proposal(index, entries, proposal)
        # Proposals added to the old index meanwhile are newer than the snapshot: the next
        # refresh adds them to this one.
        last_proposal_id = max((proposal.id for proposal in snapshot.proposals), default=0)
        with self._index_lock:
            self.index, self._entries = index, entries
            self._last_proposal_id = last_proposal_id

    def _add_proposals(self, proposals: list[Proposal]) -> None:
        """Add new proposals to the index. CPU: call from a worker thread."""
        with self._index_lock:
            for proposal in proposals:
                _add_proposal(self.index, self._entries, proposal)
                self._last_proposal_id = max(self._last_proposal_id, proposal.id)

    def vector_of(self, title: str, description: str) -> tuple[bytes, str] | None:
        """A proposal's vector as stored, with its encoder's name (None: no encoder). CPU:
        call from a worker thread."""
        encoder = self.index.encoder or default_encoder()
        if encoder is None:
            return None
        vector = encoder.encode([document_text(title, description)])[0]
        return to_bytes(vector), encoder.name

    async def forget_proposal(self, proposal_id: int) -> None:
        """A withdrawn proposal is no longer shown as similar (in this process at once; other
        processes at their next full rebuild). In a worker thread: it may wait for a search
        to release the index."""
        await asyncio.to_thread(self._forget, f"p{proposal_id}")

    def _forget(self, document_id: str) -> None:
        with self._index_lock:
            self.index.remove(document_id)
            self._entries.pop(document_id, None)

    async def search(self, query: Query, exclude: tuple[str, ...] = ()) -> list[Similar]:
        """The initiatives and proposals most similar to *query*, best first. CPU (encoding
        the query, scoring candidates): in a worker thread."""
        return await asyncio.to_thread(self._search, query, exclude)

    def _search(self, query: Query, exclude: tuple[str, ...]) -> list[Similar]:
        with self._index_lock:
            matches = self.index.search(query, MAX_MATCHES, exclude)
            return [self._describe(match) for match in matches]

    def _describe(self, match: Match) -> Similar:
        entry = self._entries[match.document_id]
        return Similar(
            document_id=match.document_id,
            kind=entry.kind,
            database_id=entry.database_id,
            name=entry.name,
            commune=entry.commune,
            contactable=entry.contactable,
            score=match.score,
            reasons=tuple(reason.code() for reason in match.reasons),
        )
