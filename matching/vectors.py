"""Nearest sentence vectors: the documents whose meaning is closest to a query's.

Pure module (numpy only, nothing done at import). :class:`VectorIndex` holds the vectors
of :mod:`matching.semantic` (float32, L2-normalised, so a dot product is a cosine) under
the *positions* of :class:`matching.similar.SimilarityIndex`: 0, 1, 2 … in insertion
order, append-only, a removed document keeping its position (never returned again). A
document without a vector (an empty text) is a zero row: it takes a position but is never
returned, and does not count in ``len()``.

How a search works
------------------
The vectors live in *lists*, each a contiguous float32 block with the positions of its
rows, so that scoring a list is one matrix-vector product over memory read in order
(gathering scattered rows costs about ten times more than scoring them).

* Below :attr:`VectorIndex.IVF_THRESHOLD` searchable vectors (10 000: at most about 2 ms
  for the product), there is one list and every search is exact.
* From there on, the index is an *inverted file* (IVF, as in FAISS's ``IndexIVFFlat``):
  spherical k-means (seeded, so a build is deterministic) places
  ``LISTS_PER_SQRT * sqrt(n)`` centroids (632 at 100 000 vectors, 2 000 at 1 000 000),
  trained for :attr:`~VectorIndex.KMEANS_ITERATIONS` iterations on a sample of
  :attr:`~VectorIndex.SAMPLE_PER_LIST` vectors per centroid; every vector goes into the
  list of its nearest centroid. A search scores the centroids, then scores exactly the
  members of the nearest :attr:`~VectorIndex.MIN_PROBES` lists (or
  :attr:`~VectorIndex.PROBE_SHARE` of the lists, if more). A neighbour whose list is not
  probed is missed: that is the approximation, measured as recall@10 against
  :meth:`VectorIndex.nearest_exhaustive` by ``intake bench matching``.

:meth:`VectorIndex.add` puts a vector into its nearest list (about 0.1 ms at 100 000).
The centroids are retrained, and every list rebuilt, when the searchable vectors have
doubled since the last training (or first reach the threshold): lists trained on half the
collection grow ever longer and searches slower, while retraining at each doubling costs
a constant amount per added vector. That one ``add`` takes as long as a build (under
1 s at 20 000 vectors, 5 s at 100 000): a caller that cannot pause that long builds a
new index aside (in a worker thread) and swaps it in. Removals do not retrain. An index
is not thread-safe: adds, removes and searches must not run at the same time.

Memory: 4 bytes per dimension (2 048 bytes for 512 dimensions) plus 24 bytes of
bookkeeping per vector, plus up to half that again of spare capacity in lists that grew
by :meth:`~VectorIndex.add` (a build leaves none); :attr:`VectorIndex.nbytes` tells.
:meth:`VectorIndex.build` copies its input: the caller's array can be dropped afterwards.
Vectors are kept in float32: float16 would halve the memory, but numpy multiplies a
float16 matrix about 50 times slower (and converting it first, 25 times).

Speed: a search reads each scored vector once (2 KB), so its time follows the number of
vectors scored (roughly 0.3 µs each on a two-core machine, memory-bound) more than BLAS
threads; a build spends most of its time in the k-means matrix products, which numpy's
BLAS runs on its default threads.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from matching.semantic import Vectors

__all__ = ["VectorIndex"]

_Ids = npt.NDArray[np.int64]

_NOT_INDEXED = -1  # a zero row: a position, no vector
_REMOVED = -2
_CHUNK = 8192  # rows per product when assigning vectors to centroids (32 MB at 1 024 lists)


class VectorIndex:
    """Vectors by position; :meth:`nearest` gives the closest ones (see the module doc)."""

    IVF_THRESHOLD: ClassVar[int] = 10_000
    """Searchable vectors from which the index trains centroids (below: exact search)."""
    LISTS_PER_SQRT: ClassVar[float] = 2.0
    """Lists per square root of the vectors: 632 at 100 000, 2 000 at 1 000 000."""
    MIN_LISTS: ClassVar[int] = 8
    """Fewer lists would make each probe scan a large share of the index."""
    SAMPLE_PER_LIST: ClassVar[int] = 32
    """k-means sample size per centroid (FAISS warns below 39 and uses up to 256)."""
    KMEANS_ITERATIONS: ClassVar[int] = 8
    """Recall hardly moves from 4 to 8 iterations on sentence vectors; the build time does."""
    MIN_PROBES: ClassVar[int] = 40
    """Lists scored at least per search (6 % of the 632 lists at 100 000 vectors)."""
    PROBE_SHARE: ClassVar[float] = 0.04
    """Share of the lists scored per search when larger (80 of 2 000 at 1 000 000)."""
    SEED: ClassVar[int] = 20_240_601
    """Of the k-means sample and initial centroids: the same vectors give the same index."""

    def __init__(self) -> None:
        self._dimensions = 0  # fixed by the first vector
        self._size = 0  # positions given
        self._live = 0  # searchable vectors
        self._list_of = np.zeros(0, dtype=np.int64)  # position → list (or _NOT_INDEXED…)
        self._slot_of = np.zeros(0, dtype=np.int64)  # position → row in its list
        self._blocks: list[Vectors] = []  # list → rows (capacity ≥ count)
        self._ids: list[_Ids] = []  # list → positions of its rows
        self._counts: list[int] = []
        self._centroids: Vectors | None = None  # None: one list, exact search
        self._trained_at = 0  # searchable vectors at the last training

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, vectors: Vectors) -> VectorIndex:
        """An index of *vectors* (one row each) at positions 0 … n-1 (zero rows included,
        never returned); trains centroids when there are enough of them."""
        index = cls()
        rows = index._as_rows(vectors)
        n = rows.shape[0]
        index._grow_positions(n)
        index._size = n
        searchable = np.flatnonzero(_norms2(rows) > 0)
        index._list_of[:n] = _NOT_INDEXED
        if searchable.shape[0] < n:  # else no copy: the lists are copies already
            rows = rows[searchable]
        index._fill(rows, searchable.astype(np.int64))
        return index

    def add(self, vector: Vectors) -> int:
        """Append *vector* (one row); its position. A zero vector takes a position only."""
        row = self._as_rows(vector)
        if row.shape[0] != 1:
            raise ValueError(f"add takes one vector, not {row.shape[0]}")
        position = self._size
        self._grow_positions(position + 1)
        self._size += 1
        self._list_of[position] = _NOT_INDEXED
        if not _norms2(row)[0] > 0:
            return position
        if self._centroids is None:
            target = 0
            if not self._blocks:
                self._blocks.append(np.zeros((0, self._dimensions), dtype=np.float32))
                self._ids.append(np.zeros(0, dtype=np.int64))
                self._counts.append(0)
        else:
            target = int(np.argmax(self._centroids @ row[0]))
        self._append(target, row[0], position)
        self._live += 1
        if self._should_train():
            self._retrain()
        return position

    def remove(self, position: int) -> None:
        """Forget the vector at *position*: never returned again. Removing twice, or a zero
        row, is harmless; a position never given is an IndexError."""
        if not 0 <= position < self._size:
            raise IndexError(f"no position {position} in an index of {self._size}")
        target = int(self._list_of[position])
        self._list_of[position] = _REMOVED
        if target < 0:
            return
        slot = int(self._slot_of[position])
        last = self._counts[target] - 1
        block, ids = self._blocks[target], self._ids[target]
        if slot != last:  # the last row takes the hole: lists stay dense
            block[slot] = block[last]
            moved = int(ids[last])
            ids[slot] = moved
            self._slot_of[moved] = slot
        self._counts[target] = last
        self._live -= 1

    def __len__(self) -> int:
        """Searchable vectors: neither removed nor zero."""
        return self._live

    @property
    def dimensions(self) -> int:
        """Length of the vectors (0 until the first one)."""
        return self._dimensions

    @property
    def positions(self) -> int:
        """Positions given so far (removed and zero rows included): the next add's."""
        return self._size

    @property
    def trained(self) -> bool:
        """True when searches probe lists (IVF), False when they are exact."""
        return self._centroids is not None

    @property
    def lists(self) -> int:
        return len(self._blocks)

    @property
    def probes(self) -> int:
        """Lists scored per :meth:`nearest` (all of them while untrained)."""
        lists = len(self._blocks)
        if self._centroids is None:
            return lists
        return min(lists, max(self.MIN_PROBES, math.ceil(self.PROBE_SHARE * lists)))

    @property
    def nbytes(self) -> int:
        """Bytes held: vectors (with spare capacity), positions, centroids."""
        total = self._list_of.nbytes + self._slot_of.nbytes
        total += sum(block.nbytes for block in self._blocks)
        total += sum(ids.nbytes for ids in self._ids)
        if self._centroids is not None:
            total += self._centroids.nbytes
        return total

    # ------------------------------------------------------------------ searching

    def nearest(
        self, query: Vectors, k: int, excluded: Collection[int] = ()
    ) -> list[tuple[int, float]]:
        """The at most *k* (position, cosine) closest to *query*, best first, positions in
        *excluded* left out; approximate once trained (see the module doc). A zero query
        is similar to nothing: []."""
        q = self._as_query(query)
        if q is None or k <= 0 or self._live == 0:
            return []
        lists, probes = len(self._blocks), self.probes
        if self._centroids is None or probes >= lists:
            return self._score(q, range(lists), k, excluded)
        closeness = self._centroids @ q
        nearest_lists = np.argpartition(-closeness, probes - 1)[:probes]
        return self._score(q, nearest_lists.tolist(), k, excluded)

    def nearest_exhaustive(
        self, query: Vectors, k: int, excluded: Collection[int] = ()
    ) -> list[tuple[int, float]]:
        """Like :meth:`nearest`, every vector scored: exact (tests, recall measurement)."""
        q = self._as_query(query)
        if q is None or k <= 0 or self._live == 0:
            return []
        return self._score(q, range(len(self._blocks)), k, excluded)

    def cosines(self, query: Vectors, positions: Sequence[int]) -> Vectors:
        """The cosine of *query* with the vector at each of *positions* (0 for a position
        without vector or removed): the exact closeness of candidates found otherwise."""
        out = np.zeros(len(positions), dtype=np.float32)
        q = self._as_query(query)
        if q is None or not positions:
            return out
        where = np.asarray(positions, dtype=np.int64)
        lists = self._list_of[where].tolist()
        slots = self._slot_of[where].tolist()
        kept = [i for i, target in enumerate(lists) if target >= 0]
        if kept:
            # One row view per candidate, stacked: cheaper than grouping a few hundred
            # candidates by list.
            blocks = self._blocks
            rows = np.stack([blocks[lists[i]][slots[i]] for i in kept])
            out[kept] = rows @ q
        return out

    def _score(
        self, q: Vectors, probes: Collection[int], k: int, excluded: Collection[int]
    ) -> list[tuple[int, float]]:
        score_parts: list[Vectors] = []
        id_parts: list[_Ids] = []
        for target in probes:
            count = self._counts[target]
            if count:
                score_parts.append(self._blocks[target][:count] @ q)
                id_parts.append(self._ids[target][:count])
        if not score_parts:
            return []
        scores = np.concatenate(score_parts) if len(score_parts) > 1 else score_parts[0]
        ids = np.concatenate(id_parts) if len(id_parts) > 1 else id_parts[0]
        if excluded:
            keep = ~np.isin(ids, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
            scores, ids = scores[keep], ids[keep]
        if k < scores.shape[0]:
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(scores.shape[0])
        # best first; equal cosines by position, so that results do not depend on the lists
        top = top[np.lexsort((ids[top], -scores[top]))]
        return list(zip(ids[top].tolist(), scores[top].tolist(), strict=True))

    # ------------------------------------------------------------------ internals

    def _as_rows(self, vectors: Vectors) -> Vectors:
        rows = np.asarray(vectors, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2:
            raise ValueError(f"vectors are rows, not an array of shape {rows.shape}")
        if rows.shape[0] == 0 and rows.shape[1] == 0:
            return rows
        if self._dimensions == 0:
            self._dimensions = rows.shape[1]
        elif rows.shape[1] != self._dimensions:
            raise ValueError(f"vectors have {self._dimensions} dimensions, not {rows.shape[1]}")
        return rows

    def _as_query(self, query: Vectors) -> Vectors | None:
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if self._dimensions and q.shape[0] != self._dimensions:
            raise ValueError(f"vectors have {self._dimensions} dimensions, not {q.shape[0]}")
        return q if float(q @ q) > 0 else None

    def _grow_positions(self, needed: int) -> None:
        capacity = self._list_of.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 64)
        for name in ("_list_of", "_slot_of"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=np.int64)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _append(self, target: int, row: Vectors, position: int) -> None:
        count = self._counts[target]
        block = self._blocks[target]
        if count == block.shape[0]:
            capacity = max(16, count + count // 2)
            grown = np.zeros((capacity, self._dimensions), dtype=np.float32)
            grown[:count] = block[:count]
            ids = np.zeros(capacity, dtype=np.int64)
            ids[:count] = self._ids[target][:count]
            self._blocks[target], self._ids[target] = grown, ids
            block = grown
        block[count] = row
        self._ids[target][count] = position
        self._list_of[position] = target
        self._slot_of[position] = count
        self._counts[target] = count + 1

    def _should_train(self) -> bool:
        if self._live < self.IVF_THRESHOLD:
            return False
        return self._centroids is None or self._live >= 2 * self._trained_at

    def _retrain(self) -> None:
        rows = np.concatenate(
            [block[:count] for block, count in zip(self._blocks, self._counts, strict=True)]
        )
        ids = np.concatenate(
            [ids[:count] for ids, count in zip(self._ids, self._counts, strict=True)]
        )
        self._blocks, self._ids, self._counts = [], [], []
        order = np.argsort(ids, kind="stable")  # deterministic whatever the old lists
        self._fill(rows[order], ids[order])

    def _fill(self, rows: Vectors, ids: _Ids) -> None:
        """Lists of *rows* (searchable, at positions *ids*), centroids trained if enough."""
        n = rows.shape[0]
        self._live = n
        if n < self.IVF_THRESHOLD:
            self._centroids = None
            self._trained_at = 0
            assignment = np.zeros(n, dtype=np.int64)
            lists = 1 if n else 0
        else:
            self._centroids = _train(rows, self._list_count(n), self)
            self._trained_at = n
            assignment = _assign(rows, self._centroids)
            lists = self._centroids.shape[0]
        order = np.argsort(assignment, kind="stable")
        bounds = np.searchsorted(assignment[order], np.arange(lists + 1))
        self._blocks, self._ids, self._counts = [], [], []
        for target in range(lists):
            members = order[bounds[target] : bounds[target + 1]]
            self._blocks.append(np.ascontiguousarray(rows[members]))
            self._ids.append(ids[members].copy())
            self._counts.append(int(members.shape[0]))
            self._list_of[ids[members]] = target
            self._slot_of[ids[members]] = np.arange(members.shape[0])

    def _list_count(self, n: int) -> int:
        return max(self.MIN_LISTS, min(n // 4, round(self.LISTS_PER_SQRT * math.sqrt(n))))


def _norms2(rows: Vectors) -> Vectors:
    """Squared length of each row, without an n × d temporary (zero: no vector)."""
    norms: Vectors = np.einsum("ij,ij->i", rows, rows)
    return norms


def _assign(rows: Vectors, centroids: Vectors) -> _Ids:
    """The nearest centroid of each row (largest dot product), in chunks of rows."""
    out = np.empty(rows.shape[0], dtype=np.int64)
    for start in range(0, rows.shape[0], _CHUNK):
        out[start : start + _CHUNK] = np.argmax(rows[start : start + _CHUNK] @ centroids.T, axis=1)
    return out


def _train(rows: Vectors, lists: int, config: VectorIndex) -> Vectors:
    """Spherical k-means centroids (unit length) of a seeded sample of *rows*.

    Fixed iterations, no convergence test: a few iterations place the centroids well
    enough for routing, more cost build time for little recall. A centroid left without
    members is moved onto a random sampled vector.
    """
    rng = np.random.default_rng(config.SEED)
    n = rows.shape[0]
    sample_size = min(n, lists * config.SAMPLE_PER_LIST)
    picked = np.sort(rng.choice(n, size=sample_size, replace=False))
    sample: Vectors = rows[picked]
    centroids: Vectors = sample[rng.choice(sample_size, size=lists, replace=False)].copy()
    for _ in range(config.KMEANS_ITERATIONS):
        assignment = _assign(sample, centroids)
        order = np.argsort(assignment, kind="stable")
        counts = np.bincount(assignment, minlength=lists)
        filled = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[filled]
        sums = np.add.reduceat(sample[order], starts, axis=0)
        centroids[filled] = sums
        empty = np.flatnonzero(counts == 0)
        if empty.shape[0]:
            centroids[empty] = sample[rng.choice(sample_size, size=empty.shape[0], replace=False)]
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        centroids /= np.where(norms > 0, norms, 1.0)
    return centroids
