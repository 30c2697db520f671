"""Similar initiatives: find the catalogue entries (or earlier proposals) closest to a text.

Pure module (no I/O): build a :class:`SimilarityIndex` over :class:`Document` objects, then
:meth:`SimilarityIndex.search` it with a :class:`Query`. Each :class:`Match` carries a score
in 0..1 and the :class:`Reason` objects that explain it ("same commune", "both about
compost"), as stable codes that the bot translates for citizens. The same index type serves
the initiative catalogue and the earlier proposals (:meth:`SimilarityIndex.add` as they
arrive, :meth:`SimilarityIndex.remove` when withdrawn).

Text is compared on the *terms* of :func:`matching.normalize.analyze`: concepts (``~id``,
identical across French, Dutch and English, so "potager collectif" meets "Samentuin" and
"community garden") and snowball stems of the other words. Only the first
:data:`MAX_TEXT_CHARS` characters of a text are analysed.

Scoring
-------
For a query *q* and a document *d* that share at least one term, or whose meanings are
close (otherwise the score is 0: themes or commune alone never make two texts similar)::

    words = 0.40 * overlap + 0.20 * fuzzy + 0.40 * concepts        (each part in 0..1)
    text  = words + 0.6 * meaning * (1 - words)
    score = text * (0.70 + 0.15 * themes + 0.15 * commune) / best

* ``meaning``: the cosine of the two texts' sentence vectors (:mod:`matching.semantic`),
  0 at :data:`MEANING_FLOOR` (0.35) or below, 1 from 0.60 (:data:`MEANING_SPAN`); 0 when
  the index has no encoder. Meaning adds to the words' evidence and never takes from it:
  "potager collectif" meets "samentuin" and "community garden" through the concept table,
  "bacs potagers dans ma rue" meets "Potager du Carré Vert" through meaning alone (reason
  ``similar_idea``).

* ``overlap``: IDF-weighted overlap of the two term sets (concepts and words), normalised
  by both sides (weighted Ochiai/cosine ``w(q∩d) / sqrt(w(q) * w(d))``, ``w`` the sum of
  the terms' BM25 IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))``): rare shared words count
  more than common ones, long texts that mention many other things count less. A query
  term that no document uses counts in ``w(q)`` as an average term of that query.
* ``fuzzy``: :func:`rapidfuzz.fuzz.token_sort_ratio` of the two texts' words (terms other
  than concepts, sorted) / 100, with the noise below :data:`FUZZY_FLOOR` (0.4) cut off and
  the rest stretched to 0..1: near-identical wording, typos and close stems.
* ``concepts``: the IDF-weighted share of the query's concepts that the document has
  (``w(Cq∩Cd) / w(Cq)``): a specific concept ("repair") counts more than a generic one
  ("neighbours"); the document's other concepts already lower ``overlap``.
* A query without concepts, or without words besides its concepts, has no ``concepts``
  or no ``fuzzy`` part: the weights of the other parts are scaled up to sum to 1.
* ``themes``: Dice coefficient of the two theme sets (0 when either side has none).
* ``commune``: 1 for the same commune, 0.5 for another commune whose centroid is within
  :data:`NEARBY_KM` (2.5 km), 0 farther away, 0.25 (neutral: between the two) when either
  commune is unknown.
* ``best``: the factor of an ideal document for this query (same commune when the query
  has one, all themes when it has some): what the citizen did not say is not a penalty,
  and an unknown commune is neutral.

Themes and commune thus reorder text matches (a far document with no shared theme gets
0.7 of the score of an identical document in the same commune with the same themes) but
never create one. Only matches scoring at least :data:`MIN_SCORE` (or
:data:`MIN_TOPIC_SCORE` when they share the query's main concept) are returned; ties are
broken by insertion order.

Speed
-----
Documents are stored compactly: their term ids in one flat numpy array, postings (term id
→ positions) as one ``array('I')`` per term, commune, theme set and the length of the
fuzzy part's string as small ints. A search selects candidates, then scores them:

1. the query's terms are taken from the rarest to the most common; the rarest term's
   postings are read in full, the next ones while the *insertion budget* lasts
   (``POSTINGS_SHARE`` of the collection size, clamped to MIN_POSTINGS .. MAX_POSTINGS);
   each shared term adds its IDF weight to the document's entry in a dense accumulator
   (one numpy array over all positions: zeroing and scanning it costs less than a
   dictionary update per posting);
2. more common terms, while the *update budget* lasts (``UPDATE_SHARE``, at most
   MAX_UPDATE_POSTINGS), only add their weight to documents already found; the most
   common terms beyond both budgets are skipped: they still count in the final score
   but bring no candidate;
3. the accumulated documents are ranked by an estimate of the score (overlap and
   concepts parts × the themes/commune factor, the fuzzy part left out) and the best
   :data:`CANDIDATE_POOL` are kept;
4. the :data:`SEMANTIC_CANDIDATES` documents whose vectors are nearest to the query's
   (:class:`matching.vectors.VectorIndex`) join them, whether they share a term or not;
5. every part of the candidates' scores but the fuzzy one is computed at once with numpy
   (their terms looked up among the query's with ``searchsorted``, summed per document
   with ``bincount``), with the highest score the fuzzy part could add (at most what the
   two strings' lengths allow: ``2 min(a, b) / (a + b)``); the candidates are then
   taken from the highest possible score down, the fuzzy part (one rapidfuzz call)
   computed for each, until *k* of them score more than the next one could. This
   pruning never changes the result: it only skips rapidfuzz calls that could not.

:meth:`SimilarityIndex.search_exhaustive` scores every document in full, fuzzy part
included (the reference for tests and recall measurement, and the baseline of
``intake bench matching``).

IDF weights and per-document weight sums are a snapshot, refreshed once more than 10 % of
the collection has changed since the last refresh (or at every change up to 1 000
documents), so that adding proposals one by one stays cheap; :meth:`search` and
:meth:`search_exhaustive` always use the same snapshot, hence the same scores.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz

from matching.communes import all_communes
from matching.normalize import (
    CONCEPT_PREFIX,
    LANGUAGES,
    analyze,
    detect_language,
    stem,
    words,
)
from matching.semantic import DIMENSIONS, Encoder, Semantic, Vectors, resolve
from matching.vectors import VectorIndex

__all__ = [
    "CANDIDATE_POOL",
    "MIN_SCORE",
    "NEARBY_KM",
    "STRONG_SCORE",
    "Document",
    "Match",
    "Query",
    "Reason",
    "SimilarityIndex",
    "strength",
]

MIN_SCORE = 0.28
"""Matches scoring below this are not returned. Calibrated on hand-made pairs (see
tests/matching/test_similar.py): texts sharing only a common word ("rue") score about 0.15 even
in the same commune with the same themes, only a street name ("rue Haute") or only a generic
concept ("neighbours") about 0.25; texts about the same thing in two languages ("repair
café" / "herstelatelier", "potager collectif" / "samentuin") 0.3 and more."""

STRONG_SCORE = 0.55
"""A match scoring at least this is "strong". On hand-made pairs, the same kind of project
(a repair café and a bike repair workshop, two shared gardens, two street parties) scores
0.55 to 0.65 and the same text again 1.0; a related project in the other language and
another commune scores about 0.4 ("medium", from :data:`MIN_SCORE`). A match found below
:data:`MIN_SCORE`, only because it shares the query's main topic, is "weak"."""

MIN_TOPIC_SCORE = 0.12
"""A document that shares the query's main topic (a concept of its title, or else its most
weighted concept) is returned from this lower score: a long description dilutes every
score, but "both about compost" is still what the citizen wants to see."""

NEARBY_KM = 2.5
"""Two communes whose centroids are at most this far apart are "nearby"."""

# Weights of the text part (sum to 1).
W_OVERLAP = 0.40
W_FUZZY = 0.20
W_CONCEPTS = 0.40
# Multiplier: base + themes + commune (sum to 1).
BASE_FACTOR = 0.70
W_THEMES = 0.15
W_COMMUNE = 0.15
# Commune proximity values.
GEO_SAME = 1.0
GEO_NEARBY = 0.5
GEO_UNKNOWN = 0.25
GEO_FAR = 0.0

MAX_TEXT_CHARS = 4000
"""Only the first characters of a text are analysed (a Telegram message has at most 4 096)."""

CANDIDATE_POOL = 300
"""How many candidates get the full score."""

POSTINGS_SHARE = 0.10
MIN_POSTINGS = 10_000
MAX_POSTINGS = 30_000
UPDATE_SHARE = 0.10
MAX_UPDATE_POSTINGS = 100_000
"""Candidate selection budgets, in postings read (see "Speed" above): terms bring new
candidates while ``POSTINGS_SHARE × documents`` postings (clamped to MIN_POSTINGS ..
MAX_POSTINGS) have not been read, then only add their weight to the candidates already
found while ``UPDATE_SHARE × documents`` more (at most MAX_UPDATE_POSTINGS) have not."""

SIMILAR_WORDS = 3
"""At most this many words in a ``similar_words`` reason (the rarest shared ones)."""

MIN_WORD_LENGTH = 4
"""Shorter shared words ("van", "hoe") are not shown as reasons (they still count)."""

MEANING_FLOOR = 0.35
"""Cosine of two texts' sentence vectors up to which they are not alike in meaning. Half of
the pairs of starter initiatives are below 0.12 and 95 % below 0.33; texts on one side topic
("a bench in front of the school" / "outdoor classes") reach 0.40, the same idea in other
words ("bacs potagers dans ma rue" / "potager collectif", "petite bibliothèque de rue" /
"boîte à livres") about 0.48."""
MEANING_SPAN = 0.25
"""Cosine above the floor at which the meaning part reaches 1 (0.60: the same idea)."""
W_MEANING = 0.6
"""How much closeness in meaning adds to the text part (see "Meaning" above)."""
SIMILAR_IDEA = 0.3
"""Meaning part from which a match that shares no shown word or concept gets the reason
``similar_idea``."""
SEMANTIC_CANDIDATES = 50
"""Nearest vectors added to the candidates of a search."""

FUZZY_FLOOR = 0.4
"""rapidfuzz similarities below this (0..1) are noise between unrelated strings: the fuzzy
part is ``max(0, (similarity - FUZZY_FLOOR) / (1 - FUZZY_FLOOR))``."""
_FUZZY_SCORER = fuzz.token_sort_ratio
_COMMON_WORD_SHARE = 0.25  # words in more documents than this are not shown as reasons
_SMALL_INDEX = 1000
_REFRESH_GROWTH = 0.10
_EARTH_RADIUS_KM = 6371.0088
_RAW_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Document:
    """An initiative of the catalogue, or an earlier proposal."""

    id: str
    name: str
    description: str = ""
    themes: tuple[str, ...] = ()
    commune: str | None = None  # REFNIS code, e.g. "21009"
    language: str | None = None  # fr, nl, en; detected when None
    vector: Vectors | None = field(default=None, compare=False, repr=False)
    """Its sentence vector when stored (:func:`document_text` encoded by the index's
    encoder); computed by the index when None."""


def document_text(name: str, description: str) -> str:
    """The text of a document as the index reads it (and as its vector encodes it)."""
    return f"{name}\n{description}" if description else name


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a document matched, as a stable code the bot translates.

    ``kind`` is one of ``same_commune`` (no values), ``nearby_commune`` (values: the
    document's commune REFNIS), ``shared_themes`` (theme ids), ``shared_concepts``
    (concept ids such as ``"compost"``), ``similar_words`` (a few words shared by both
    texts, as written in the query, lower-cased) or ``similar_idea`` (no values: close in
    meaning, where no shared concept or word tells why).
    """

    kind: str
    values: tuple[str, ...] = ()

    def code(self) -> str:
        """Compact form: ``"same_commune"``, ``"shared_themes:compost,food"`` …"""
        return f"{self.kind}:{','.join(self.values)}" if self.values else self.kind


@dataclass(frozen=True, slots=True)
class Match:
    document_id: str
    score: float  # 0..1, rounded to 4 decimals
    reasons: tuple[Reason, ...]


def strength(score: float) -> Literal["strong", "medium", "weak"]:
    """What a match's score means, for people who should not have to read a number."""
    if score >= STRONG_SCORE:
        return "strong"
    return "medium" if score >= MIN_SCORE else "weak"


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    language: str | None = None
    commune: str | None = None  # REFNIS code
    themes: tuple[str, ...] = ()
    vector: Vectors | None = field(default=None, compare=False, repr=False)
    """The text's sentence vector, when the caller has it; computed when None."""


ENCODE_BATCH = 256
"""Documents encoded at once when an index computes their vectors."""


def encode_documents(
    encoder: Encoder,
    documents: Sequence[Document],
    progress: Callable[[int], None] | None = None,
) -> Vectors:
    """The documents' vectors, one row each: a stored one as it is, the others encoded in
    batches of :data:`ENCODE_BATCH` (*progress* gets the number encoded after each)."""
    rows: list[Vectors | None] = [document.vector for document in documents]
    missing = [row for row, vector in enumerate(rows) if vector is None]
    for start in range(0, len(missing), ENCODE_BATCH):
        batch = missing[start : start + ENCODE_BATCH]
        texts = [document_text(documents[r].name, documents[r].description) for r in batch]
        for row, vector in zip(batch, encoder.encode(texts), strict=True):
            rows[row] = vector
        if progress is not None:
            progress(start + len(batch))
    if not rows:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.stack([np.asarray(row, dtype=np.float32) for row in rows if row is not None])


# ------------------------------------------------------------------------- communes


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


class _Geography:
    """Commune codes ↔ small indexes (0..18; -1 unknown) and the proximity table."""

    def __init__(self) -> None:
        communes = all_communes()
        self.refnis = tuple(c.refnis for c in communes)
        self.index = {c.refnis: i for i, c in enumerate(communes)}
        self.nearby = tuple(
            tuple(
                i != j
                and _haversine_km(a.latitude, a.longitude, b.latitude, b.longitude) <= NEARBY_KM
                for j, b in enumerate(communes)
            )
            for i, a in enumerate(communes)
        )

    def code(self, refnis: str | None) -> int:
        return -1 if refnis is None else self.index.get(refnis.strip(), -1)

    def proximity(self, a: int, b: int) -> float:
        if a < 0 or b < 0:
            return GEO_UNKNOWN
        if a == b:
            return GEO_SAME
        return GEO_NEARBY if self.nearby[a][b] else GEO_FAR

    def table(self, query_code: int) -> list[float]:
        """Proximity of every commune code to *query_code*; index ``code + 1`` (-1 → 0)."""
        return [self.proximity(query_code, c) for c in range(-1, len(self.refnis))]


@functools.cache
def _geography() -> _Geography:
    return _Geography()


# ------------------------------------------------------------------------- analysis


def _language(text: str, language: str | None) -> str:
    return language if language in LANGUAGES else detect_language(text)


def _terms(text: str, language: str | None) -> list[str]:
    """Unique analysed terms, in order of first occurrence."""
    text = text[:MAX_TEXT_CHARS]
    return list(dict.fromkeys(analyze(text, _language(text, language))))


def _dice(a: Collection[str], b: Collection[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(set(a) & set(b)) / (len(set(a)) + len(set(b)))


Positions = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_SCORE_CHUNK = 20_000
"""Documents whose parts are computed at once (bounds the memory of an exhaustive search)."""


_Scalar = TypeVar("_Scalar", bound=np.generic)


class _Column(Generic[_Scalar]):
    """A growable numpy array: appends cost amortised O(1), :meth:`view` is the filled part.

    Unlike ``array.array``, it can be viewed by numpy while it grows (growing allocates a
    new buffer instead of resizing one that a view points into).
    """

    def __init__(self, dtype: type[_Scalar]) -> None:
        self._data: npt.NDArray[_Scalar] = np.zeros(64, dtype=dtype)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _reserve(self, size: int) -> None:
        if size > self._data.shape[0]:
            grown = np.zeros(max(size, 2 * self._data.shape[0]), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown

    def append(self, value: float) -> None:
        self._reserve(self._size + 1)
        self._data[self._size] = value
        self._size += 1

    def extend(self, values: Sequence[int]) -> None:
        end = self._size + len(values)
        self._reserve(end)
        self._data[self._size : end] = values
        self._size = end

    def replace(self, values: npt.NDArray[Any]) -> None:
        """Hold *values* (converted) instead of the present content."""
        self._data = values.astype(self._data.dtype)
        self._size = len(values)

    def view(self) -> npt.NDArray[_Scalar]:
        return self._data[: self._size]


@dataclass(frozen=True)
class _TermLookup:
    """A query's known terms as sorted arrays, to look up the terms of many documents at
    once (``np.searchsorted``)."""

    ids: Positions  # term ids, ascending
    weights: Floats  # their weights
    concepts: Floats  # weight × mentions for a concept, else 0
    main: Floats  # 1 for a main concept of the query, else 0

    @classmethod
    def of(
        cls, known: dict[int, float], concept_known: dict[int, float], main: frozenset[int]
    ) -> _TermLookup:
        ids = sorted(known)
        return cls(
            ids=np.array(ids, dtype=np.int64),
            weights=np.array([known[t] for t in ids], dtype=np.float64),
            concepts=np.array([concept_known.get(t, 0.0) for t in ids], dtype=np.float64),
            main=np.array([1.0 if t in main else 0.0 for t in ids], dtype=np.float64),
        )


@dataclass(frozen=True)
class _Parts:
    """The parts of the scores of some documents, but the fuzzy one (see "Scoring")."""

    text: Floats  # overlap and concepts parts, weighted
    shares: npt.NDArray[np.bool_]  # shares a term with the query
    on_topic: npt.NDArray[np.bool_]  # has a main concept of the query
    meaning: Floats  # meaning part, 0..1
    factor: Floats  # themes/commune factor


@dataclass
class _PreparedQuery:
    known: dict[int, float]  # term id → weight, for the terms the index knows
    inv_norm: float  # 1 / sqrt(sum of the weights of all its terms, unknown ones included)
    words: str  # its terms other than concepts, joined by spaces, for rapidfuzz
    weights: tuple[float, float, float]  # overlap, fuzzy, concepts: the parts it has, sum 1
    concept_weight: float  # sum of the weights of its concepts (0: no concept)
    concept_known: dict[int, float]  # concept term id → weight × times the query mentions it
    main_concepts: frozenset[int]  # the query's most weighted concept(s)
    commune: int  # commune code, -1 when unknown
    themes: tuple[str, ...]
    language: str
    raw: str  # the (truncated) query text
    factor: Floats  # stored commune code → (BASE_FACTOR + W_COMMUNE * proximity) / best
    theme_bonus: Floats | None  # theme-set id → W_THEMES * Dice / best; None without themes
    lookup: _TermLookup  # its known terms, for scoring many documents at once
    vector: Vectors | None  # its sentence vector (None: words only)
    surface: dict[str, str] | None = None  # stem → query word, computed for reasons


class SimilarityIndex:
    """Inverted index over documents' analysed terms; see the module docstring."""

    def __init__(self, pool: int = CANDIDATE_POOL, *, semantic: Semantic = True) -> None:
        self.pool = pool
        self._encoder = resolve(semantic)
        # Sentence vectors by position (None: words only).
        self._vectors: VectorIndex | None = None if self._encoder is None else VectorIndex()
        self._geo = _geography()
        # vocabulary
        self._term_ids: dict[str, int] = {}
        self._term_text: list[str] = []
        self._is_concept = bytearray()
        self._postings: list[array[int]] = []
        # documents (position → …)
        self._ids: list[str] = []
        self._positions: dict[str, int] = {}
        self._alive = _Column(np.uint8)
        self._starts = _Column(np.int64)  # terms of document p: flat[starts[p]:starts[p + 1]]
        self._starts.append(0)
        self._flat = _Column(np.uint32)
        self._words_length = _Column(np.int64)  # length of its fuzzy words' string
        self._communes = _Column(np.uint8)  # commune code + 1 (0: unknown)
        self._theme_set = _Column(np.int64)
        self._theme_sets: list[tuple[str, ...]] = []
        self._theme_set_ids: dict[tuple[str, ...], int] = {}
        self._sets_with_theme: dict[str, list[int]] = {}
        self._live = 0
        # weight snapshot
        self._weights = array("d")  # term id → IDF at the last refresh
        self._inv_norm = _Column(np.float64)  # position → 1 / sqrt(sum of its terms' weights)
        self._snapshot_size = -1  # live documents at the last refresh
        self._changes = 0  # documents added or removed since the last refresh

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        documents: Iterable[Document],
        *,
        pool: int = CANDIDATE_POOL,
        semantic: Semantic = True,
        progress: Callable[[int], None] | None = None,
    ) -> SimilarityIndex:
        """An index over *documents*; *pool*: candidates fully scored per search;
        *semantic*: see :data:`Semantic`. Documents without a vector are encoded, in
        batches; *progress* is called with the number encoded after each batch."""
        index = cls(pool, semantic=semantic)
        listed = list(documents)
        # A later document replaces an earlier one with its id, as add() does.
        latest = {document.id: number for number, document in enumerate(listed)}
        documents = [d for number, d in enumerate(listed) if latest[d.id] == number]
        index._insert_all(documents)
        if index._encoder is not None:
            vectors = encode_documents(index._encoder, documents, progress)
            index._vectors = VectorIndex.build(vectors)
        index._refresh()
        return index

    @property
    def encoder(self) -> Encoder | None:
        """The sentence encoder of the index (None: words only)."""
        return self._encoder

    def __len__(self) -> int:
        return self._live

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._positions

    def add(self, document: Document) -> None:
        """Add a document; one with the same id is replaced."""
        self._insert(document)

    def remove(self, document_id: str) -> bool:
        """Remove a document; False if there was none with this id."""
        position = self._positions.pop(document_id, None)
        if position is None:
            return False
        for term in self._terms_of(position):
            self._postings[term].remove(position)
        self._alive.view()[position] = 0
        self._live -= 1
        self._changes += 1
        if self._vectors is not None:
            self._vectors.remove(position)
        return True

    def _term_id(self, term: str) -> int:
        term_id = self._term_ids.get(term)
        if term_id is None:
            term_id = len(self._term_text)
            self._term_ids[term] = term_id
            self._term_text.append(term)
            self._is_concept.append(term.startswith(CONCEPT_PREFIX))
            self._postings.append(array("I"))
            self._weights.append(0.0)
        return term_id

    def _theme_set_id(self, themes: tuple[str, ...]) -> int:
        key = tuple(sorted(set(themes)))
        set_id = self._theme_set_ids.get(key)
        if set_id is None:
            set_id = len(self._theme_sets)
            self._theme_set_ids[key] = set_id
            self._theme_sets.append(key)
            for theme in key:
                self._sets_with_theme.setdefault(theme, []).append(set_id)
        return set_id

    def _insert(self, document: Document) -> None:
        if document.id in self._positions:
            self.remove(document.id)
        text = document_text(document.name, document.description)
        if self._vectors is not None and self._encoder is not None:
            vector = document.vector
            if vector is None:
                vector = self._encoder.encode([text])[0]
            self._vectors.add(vector)
        term_ids = [self._term_id(t) for t in _terms(text, document.language)]
        position = len(self._ids)
        self._ids.append(document.id)
        self._positions[document.id] = position
        self._alive.append(1)
        self._flat.extend(term_ids)
        self._starts.append(len(self._flat))
        is_concept, term_text = self._is_concept, self._term_text
        plain = [len(term_text[t]) for t in term_ids if not is_concept[t]]
        self._words_length.append(sum(plain) + len(plain) - 1 if plain else 0)
        self._communes.append(self._geo.code(document.commune) + 1)
        self._theme_set.append(self._theme_set_id(document.themes))
        postings = self._postings
        for term in term_ids:
            postings[term].append(position)
        self._live += 1
        self._changes += 1
        # Weight of a new document with the current snapshot (refreshed later in bulk).
        size = max(self._snapshot_size, 1)
        weights = self._weights
        for term in term_ids:
            if weights[term] == 0.0:
                weights[term] = _idf(len(postings[term]), size)
        self._inv_norm.append(_inverse_sqrt(sum(weights[t] for t in term_ids)))

    def _insert_all(self, documents: Sequence[Document]) -> None:
        """:meth:`_insert` of *documents* (distinct ids) into an empty index, their vectors
        left out: the texts are analysed one by one, the rest is done with numpy (a third
        of the time of a build otherwise)."""
        analysed = [_terms(document_text(d.name, d.description), d.language) for d in documents]
        count = len(documents)
        lengths = np.array([len(terms) for terms in analysed], dtype=np.int64)
        term_id = self._term_id
        # Through an array('I'): a list of a few million ints would take ten times more memory.
        flat = np.array(array("I", (term_id(t) for terms in analysed for t in terms)))
        del analysed
        vocabulary = len(self._term_text)
        starts = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        owner = np.repeat(np.arange(count, dtype=np.uint32), lengths)
        # The length of each document's fuzzy string: its words and the spaces between.
        term_lengths = np.array([len(t) for t in self._term_text], dtype=np.int64)
        plain = np.frombuffer(bytes(self._is_concept), dtype=np.uint8)[flat] == 0
        words = np.bincount(owner[plain], minlength=count)
        characters = np.bincount(owner[plain], term_lengths[flat[plain]], minlength=count)
        self._words_length.replace(np.where(words > 0, characters + words - 1, 0))
        # Postings: the positions of each term, ascending (a stable sort by term).
        by_term = owner[np.argsort(flat, kind="stable")]
        del owner
        bounds = np.zeros(vocabulary + 1, dtype=np.int64)
        np.cumsum(np.bincount(flat, minlength=vocabulary), out=bounds[1:])
        self._postings = [
            array("I", by_term[bounds[t] : bounds[t + 1]].tobytes()) for t in range(vocabulary)
        ]
        self._ids = [document.id for document in documents]
        self._positions = {document_id: p for p, document_id in enumerate(self._ids)}
        self._alive.replace(np.ones(count, dtype=np.uint8))
        self._flat.replace(flat)
        self._starts.replace(starts)
        geo = self._geo
        self._communes.replace(np.array([geo.code(d.commune) + 1 for d in documents]))
        self._theme_set.replace(np.array([self._theme_set_id(d.themes) for d in documents]))
        self._inv_norm.replace(np.zeros(count))  # computed by the refresh that follows
        self._live += count
        self._changes += count

    def _refresh(self) -> None:
        size = self._live
        frequencies = np.fromiter(map(len, self._postings), np.float64, len(self._postings))
        weights = np.where(
            frequencies <= size,
            np.log1p((size - frequencies + 0.5) / (frequencies + 0.5)),
            math.log(1.5),
        )
        self._weights = array("d", weights.tobytes())
        lengths = np.diff(self._starts.view())
        owner = np.repeat(np.arange(len(self._ids)), lengths)
        sums = np.bincount(owner, weights[self._flat.view()], minlength=len(self._ids))
        sums = sums.astype(np.float64, copy=False)  # an empty bincount is of integers
        inverse = np.divide(1.0, np.sqrt(sums), out=np.zeros_like(sums), where=sums > 0)
        self._inv_norm.replace(inverse)
        self._snapshot_size = size
        self._changes = 0

    def _ensure_fresh(self) -> None:
        if self._changes and (
            self._live <= _SMALL_INDEX or self._changes > _REFRESH_GROWTH * self._snapshot_size
        ):
            self._refresh()

    # ------------------------------------------------------------------ querying

    def _prepare(self, query: Query) -> _PreparedQuery:
        vector = query.vector
        if vector is None and self._encoder is not None:
            vector = self._encoder.encode([query.text])[0]
        if self._vectors is None:
            vector = None
        text = query.text[:MAX_TEXT_CHARS]
        language = _language(text, query.language)
        mentions = Counter(analyze(text, language))
        terms = list(mentions)
        known: dict[int, float] = {}
        for term in terms:
            term_id = self._term_ids.get(term)
            if term_id is not None and self._postings[term_id]:
                known[term_id] = self._weights[term_id]
        # A term no document uses counts like an average known term of the query.
        average = sum(known.values()) / len(known) if known else 0.0
        norm = average * len(terms)
        # A concept the query mentions several times is its main topic: it counts that
        # many times in the concepts part.
        concept_weight = sum(
            known.get(self._term_ids.get(t, -1), average) * mentions[t]
            for t in terms
            if t.startswith(CONCEPT_PREFIX)
        )
        concept_known = {
            term_id: weight * mentions[self._term_text[term_id]]
            for term_id, weight in known.items()
            if self._is_concept[term_id]
        }
        # A part the query cannot have (no words besides concepts, or no concept) is left
        # out and the other parts' weights are scaled up.
        plain = [t for t in terms if not t.startswith(CONCEPT_PREFIX)]
        fuzzy_weight = W_FUZZY if plain else 0.0
        concept_part = W_CONCEPTS if concept_weight else 0.0
        total = W_OVERLAP + fuzzy_weight + concept_part
        # The factor is relative to the best one this query allows: what the citizen did not
        # say (commune, themes) is neutral, not a penalty.
        commune = self._geo.code(query.commune)
        themes = tuple(dict.fromkeys(query.themes))
        best = BASE_FACTOR + W_COMMUNE * (GEO_SAME if commune >= 0 else GEO_UNKNOWN)
        if themes:
            best += W_THEMES
        theme_bonus = None
        if themes:
            theme_bonus = np.zeros(len(self._theme_sets))
            for theme in themes:
                for set_id in self._sets_with_theme.get(theme, ()):
                    dice = _dice(themes, self._theme_sets[set_id])
                    theme_bonus[set_id] = W_THEMES * dice / best
        main_concepts = self._main_concepts(text, language, concept_known)
        geography = self._geo.table(commune)
        return _PreparedQuery(
            known=known,
            inv_norm=_inverse_sqrt(norm),
            words=" ".join(plain),
            weights=(W_OVERLAP / total, fuzzy_weight / total, concept_part / total),
            concept_weight=concept_weight,
            concept_known=concept_known,
            main_concepts=main_concepts,
            commune=commune,
            themes=themes,
            language=language,
            raw=text,
            factor=np.array([(BASE_FACTOR + W_COMMUNE * g) / best for g in geography]),
            theme_bonus=theme_bonus,
            lookup=_TermLookup.of(known, concept_known, main_concepts),
            vector=vector,
        )

    def _meanings(self, query: _PreparedQuery, positions: Positions) -> Floats:
        """The meaning part of each position: its cosine with the query's vector, from
        MEANING_FLOOR (0) to MEANING_FLOOR + MEANING_SPAN (1)."""
        if query.vector is None or self._vectors is None or not len(positions):
            return np.zeros(len(positions))
        cosines = self._vectors.cosines(query.vector, positions.tolist())
        return np.clip((cosines.astype(np.float64) - MEANING_FLOOR) / MEANING_SPAN, 0.0, 1.0)

    def _budgets(self) -> tuple[int, int]:
        size = self._live
        inserted = min(MAX_POSTINGS, max(MIN_POSTINGS, int(size * POSTINGS_SHARE)))
        updated = min(MAX_UPDATE_POSTINGS, int(size * UPDATE_SHARE))
        return inserted, updated

    def _candidates(self, query: _PreparedQuery, excluded: set[int], k: int) -> Positions:
        """Positions worth the full score (see the module docstring), *excluded* left out."""
        postings, is_concept = self._postings, self._is_concept
        ordered = sorted(query.known.items(), key=lambda item: (len(postings[item[0]]), item[0]))
        if not ordered:
            return np.zeros(0, dtype=np.int64)
        # Dense accumulators over all positions: zeroing and scanning them costs less than
        # a dictionary update per posting.
        accumulated = np.zeros(len(self._ids))
        concepts = np.zeros(len(self._ids)) if query.concept_known else None
        (insert_budget, update_budget), inserted, updated = self._budgets(), 0, 0
        for number, (term, weight) in enumerate(ordered):
            found = np.array(postings[term], dtype=np.int64)
            if number == 0 or inserted + len(found) <= insert_budget:
                inserted += len(found) if number else 0
            elif updated + len(found) <= update_budget:
                # Too common to bring new candidates: only adds to those already found.
                updated += len(found)
                found = found[accumulated[found] > 0]
            else:
                continue
            accumulated[found] += weight
            if concepts is not None and is_concept[term]:
                concepts[found] += query.concept_known[term]
        if excluded:
            accumulated[list(excluded)] = 0.0
        positions = np.flatnonzero(accumulated)
        pool = max(self.pool, k)
        if len(positions) <= pool:
            return positions
        # Estimate, in units of accumulated weight: (accumulated / sqrt(document weight) +
        # the concepts part of the text score) × the themes/commune factor; the fuzzy part
        # is left out.
        text = accumulated[positions] * self._inv_norm.view()[positions]
        if concepts is not None:
            w_overlap, _, w_concepts = query.weights
            scale = w_concepts / (w_overlap * query.inv_norm * query.concept_weight)
            text += concepts[positions] * scale
        estimates = text * self._factors(query, positions)
        threshold = np.partition(estimates, len(estimates) - pool)[len(estimates) - pool]
        chosen: Positions = positions[estimates >= threshold]
        if len(chosen) > 2 * pool:  # many ties at the threshold: the first ones
            above = positions[estimates > threshold]
            ties = positions[estimates == threshold][: max(0, pool - len(above))]
            chosen = np.concatenate([above, ties])
        return chosen

    def _factors(self, query: _PreparedQuery, positions: Positions) -> Floats:
        """The themes/commune factor of each position."""
        factors = query.factor[self._communes.view()[positions]]
        if query.theme_bonus is not None:
            factors = factors + query.theme_bonus[self._theme_set.view()[positions]]
        return factors

    def search(self, query: Query, k: int = 5, exclude: Collection[str] = ()) -> list[Match]:
        """The *k* most similar documents scoring at least :data:`MIN_SCORE`, best first.

        Documents whose id is in *exclude* are skipped (e.g. the proposal itself).
        """
        if k <= 0 or not self._live:
            return []
        self._ensure_fresh()
        prepared = self._prepare(query)
        excluded = self._excluded(exclude)
        candidates = self._candidates(prepared, excluded, k)
        if prepared.vector is not None and self._vectors is not None:
            nearest = self._vectors.nearest(prepared.vector, SEMANTIC_CANDIDATES, excluded)
            near = np.fromiter((position for position, _ in nearest), np.int64, len(nearest))
            candidates = np.union1d(candidates, near)
        return self._best(prepared, candidates, k, excluded, prune=True)

    def search_exhaustive(
        self, query: Query, k: int = 5, exclude: Collection[str] = ()
    ) -> list[Match]:
        """Like :meth:`search`, but every document is scored in full (its fuzzy part
        included): the reference for tests and recall measurement, and slow."""
        if k <= 0 or not self._live:
            return []
        self._ensure_fresh()
        prepared = self._prepare(query)
        alive = np.flatnonzero(self._alive.view())
        return self._best(prepared, alive, k, self._excluded(exclude), prune=False)

    def _excluded(self, exclude: Collection[str]) -> set[int]:
        if isinstance(exclude, str):  # one id, not its characters
            exclude = (exclude,)
        positions = (self._positions.get(document_id) for document_id in exclude)
        return {p for p in positions if p is not None}

    def _best(
        self,
        query: _PreparedQuery,
        positions: Positions,
        k: int,
        excluded: set[int],
        *,
        prune: bool,
    ) -> list[Match]:
        """The *k* best of *positions* (*excluded* left out) that pass the thresholds.

        Everything but the fuzzy part is computed for all positions at once
        (:meth:`_parts`); the fuzzy part (a rapidfuzz call on a string built per
        document) only where it can matter: with *prune*, documents are taken from the
        highest possible score down, and the scan stops once *k* documents score more
        than the next one could. The pruning never changes the result.
        """
        if excluded:
            positions = positions[~np.isin(positions, list(excluded))]
        heap: list[tuple[float, int, float]] = []  # (score, -position, meaning): k best
        for start in range(0, len(positions), _SCORE_CHUNK):
            self._best_of_chunk(query, positions[start : start + _SCORE_CHUNK], k, prune, heap)
        ids = self._ids
        return [
            Match(ids[-p], round(score, 4), self._reasons(query, -p, meaning))
            for score, p, meaning in sorted(heap, reverse=True)
        ]

    def _best_of_chunk(
        self,
        query: _PreparedQuery,
        positions: Positions,
        k: int,
        prune: bool,
        heap: list[tuple[float, int, float]],
    ) -> None:
        parts = self._parts(query, positions)
        _, w_fuzzy, _ = query.weights
        # The best score each document could reach: its fuzzy part at most as high as
        # the two strings' lengths allow.
        fuzzy_room = np.zeros(len(positions))
        if w_fuzzy:
            query_length = len(query.words)
            lengths = self._words_length.view()[positions]
            ceiling = 2 * np.minimum(lengths, query_length) / np.maximum(lengths + query_length, 1)
            fuzzy_room = w_fuzzy * np.clip((ceiling - FUZZY_FLOOR) / (1 - FUZZY_FLOOR), 0, 1)
            fuzzy_room[~parts.shares] = 0.0
        # Inflated by a rounding error's worth: the exact score is computed apart.
        highest = _with_meaning(parts.text + fuzzy_room, parts.meaning) * parts.factor
        highest *= 1 + 1e-9
        if prune:
            possible = (highest >= MIN_SCORE) | ((highest >= MIN_TOPIC_SCORE) & parts.on_topic)
            order = np.flatnonzero(possible)
            order = order[np.argsort(-highest[order], kind="stable")]
        else:  # every document scored in full, as a plain scan would
            order = np.arange(len(positions))
        text, meaning, factor = parts.text.tolist(), parts.meaning.tolist(), parts.factor.tolist()
        shares, on_topic, room = parts.shares.tolist(), parts.on_topic.tolist(), fuzzy_room.tolist()
        listed = positions.tolist()
        ceilings = highest.tolist()
        for i in order.tolist():
            if prune and len(heap) == k and heap[0][0] > ceilings[i]:
                break
            position = listed[i]
            score = text[i]
            if shares[i] and (room[i] or (not prune and w_fuzzy)):
                score += w_fuzzy * self._fuzzy(query, position)
            score = _with_meaning_one(score, meaning[i]) * factor[i]
            if score >= MIN_SCORE or (score >= MIN_TOPIC_SCORE and on_topic[i]):
                entry = (score, -position, meaning[i])
                if len(heap) < k:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)

    def _parts(self, query: _PreparedQuery, positions: Positions) -> _Parts:
        """Every part of the score of *positions* but the fuzzy one, at once."""
        starts, flat = self._starts.view(), self._flat.view()
        begins = starts[positions]
        lengths = starts[positions + 1] - begins
        owner = np.repeat(np.arange(len(positions)), lengths)
        # Index of each term in `flat`: its document's start plus its rank in the document.
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        terms = flat[offsets + np.repeat(begins, lengths)]
        lookup = query.lookup
        slot = np.searchsorted(lookup.ids, terms)
        if len(lookup.ids):
            hit = lookup.ids[np.minimum(slot, len(lookup.ids) - 1)] == terms
        else:
            hit = np.zeros(len(terms), dtype=bool)
        owner, slot = owner[hit], slot[hit]
        count = len(positions)
        shared = np.bincount(owner, lookup.weights[slot], minlength=count)
        w_overlap, _, w_concepts = query.weights
        overlap = shared * self._inv_norm.view()[positions] * query.inv_norm
        text = w_overlap * np.minimum(1.0, overlap)
        if w_concepts:
            concepts = np.bincount(owner, lookup.concepts[slot], minlength=count)
            text += w_concepts * concepts / query.concept_weight
        return _Parts(
            text=text,
            shares=np.bincount(owner, minlength=count) > 0,
            on_topic=np.bincount(owner, lookup.main[slot], minlength=count) > 0,
            meaning=self._meanings(query, positions),
            factor=self._factors(query, positions),
        )

    def _fuzzy(self, query: _PreparedQuery, position: int) -> float:
        """The fuzzy part of a document's score, 0..1 (see the module docstring)."""
        is_concept, term_text = self._is_concept, self._term_text
        words = " ".join([term_text[t] for t in self._terms_of(position) if not is_concept[t]])
        similarity = float(_FUZZY_SCORER(query.words, words)) / 100
        return max(0.0, (similarity - FUZZY_FLOOR) / (1 - FUZZY_FLOOR))

    def _terms_of(self, position: int) -> list[int]:
        starts = self._starts.view()
        terms: list[int] = self._flat.view()[starts[position] : starts[position + 1]].tolist()
        return terms

    def _main_concepts(
        self, text: str, language: str, concept_known: dict[int, float]
    ) -> frozenset[int]:
        """The concepts of the title (the text's first line, when a description follows),
        else the most weighted ones."""
        title, newline, _rest = text.partition("\n")
        if newline:
            in_title = [t for t in analyze(title, language) if t.startswith(CONCEPT_PREFIX)]
            if in_title:  # even if no document knows them: then nothing is on topic
                ids = {self._term_ids.get(t, -1) for t in in_title}
                return frozenset(t for t in concept_known if t in ids)
        if not concept_known:
            return frozenset()
        top = max(concept_known.values())
        return frozenset(t for t, w in concept_known.items() if w >= top - 1e-9)

    # ------------------------------------------------------------------ reasons

    def _reasons(
        self, query: _PreparedQuery, position: int, meaning: float = 0.0
    ) -> tuple[Reason, ...]:
        reasons: list[Reason] = []
        commune = int(self._communes.view()[position]) - 1
        if query.commune >= 0 and commune >= 0:
            if commune == query.commune:
                reasons.append(Reason("same_commune"))
            elif self._geo.nearby[query.commune][commune]:
                reasons.append(Reason("nearby_commune", (self._geo.refnis[commune],)))
        terms = set(self._terms_of(position))
        shared = [t for t in query.known if t in terms]
        concepts = [
            self._term_text[t][len(CONCEPT_PREFIX) :] for t in shared if self._is_concept[t]
        ]
        if concepts:
            reasons.append(Reason("shared_concepts", tuple(concepts)))
        themes = set(self._theme_sets[self._theme_set.view()[position]])
        shared_themes = tuple(t for t in query.themes if t in themes)
        if shared_themes:
            reasons.append(Reason("shared_themes", shared_themes))
        limit = self._live * _COMMON_WORD_SHARE
        plain = [
            t
            for t in shared
            if not self._is_concept[t] and (self._live < 20 or len(self._postings[t]) <= limit)
        ]
        plain.sort(key=lambda t: (-query.known[t], t))
        if plain:
            if query.surface is None:
                query.surface = _surface_words(query.raw, query.language)
            shown: list[str] = []
            for term in plain:
                word = query.surface.get(self._term_text[term], self._term_text[term])
                if len(word) >= MIN_WORD_LENGTH and word not in shown:
                    shown.append(word)
            if shown:
                reasons.append(Reason("similar_words", tuple(shown[:SIMILAR_WORDS])))
        if meaning >= SIMILAR_IDEA and not any(
            r.kind in ("shared_concepts", "similar_words") for r in reasons
        ):
            reasons.append(Reason("similar_idea"))
        return tuple(reasons)


def _with_meaning(text: Floats, meaning: Floats) -> Floats:
    """The text part with the meaning part added (see "Scoring"); 0 where nothing is
    shared."""
    combined = text + W_MEANING * meaning * (1.0 - np.minimum(1.0, text))
    return np.where(combined > 0, combined, 0.0)


def _with_meaning_one(text: float, meaning: float) -> float:
    """:func:`_with_meaning` of one document."""
    if meaning > 0:
        text += W_MEANING * meaning * (1.0 - min(1.0, text))
    return text if text > 0 else 0.0


def _inverse_sqrt(value: float) -> float:
    return 1.0 / math.sqrt(value) if value > 0 else 0.0


def _idf(df: int, size: int) -> float:
    return math.log(1.0 + (size - df + 0.5) / (df + 0.5)) if size >= df else math.log(1.5)


def _surface_words(text: str, language: str) -> dict[str, str]:
    """Stem → the word of *text* (lower-cased, accents kept) that gave it."""
    surface: dict[str, str] = {}
    for raw in _RAW_WORD.findall(text):
        parts = words(raw)
        for part in parts:
            shown = raw.lower() if len(parts) == 1 else part
            surface.setdefault(stem(part, language), shown)
    return surface
