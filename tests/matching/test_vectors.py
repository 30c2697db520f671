"""Nearest vectors (:mod:`matching.vectors`): exact below the IVF threshold, close to exact
above it, positions kept through adds and removals. Small random and hand-built vectors:
no encoder needed."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from bot.runners.benchmarks.matching import (
    document_text,
    format_matching_report,
    run_matching_benchmark,
)
from matching.semantic import Vectors
from matching.similar import Document
from matching.vectors import VectorIndex

DIMENSIONS = 32


def unit(values: npt.ArrayLike) -> Vectors:
    rows = np.asarray(values, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1)).astype(np.float32)


def random_unit(count: int, seed: int, dimensions: int = DIMENSIONS) -> Vectors:
    return unit(np.random.default_rng(seed).standard_normal((count, dimensions)))


def clustered(count: int, clusters: int, seed: int, spread: float = 0.35) -> Vectors:
    """Unit vectors around *clusters* random centres (the same for every *seed*), like
    sentence vectors of a few topics."""
    rng = np.random.default_rng(seed)
    centres = random_unit(clusters, seed=clusters)
    rows = centres[rng.integers(0, clusters, count)]
    return unit(rows + spread * rng.standard_normal((count, DIMENSIONS)) / np.sqrt(DIMENSIONS))


def brute_force(vectors: Vectors, query: Vectors, k: int, gone: Collection[int] = ()) -> list[int]:
    scores = vectors @ query
    order = sorted(
        (i for i in range(len(vectors)) if i not in gone and np.any(vectors[i])),
        key=lambda i: (-scores[i], i),
    )
    return order[:k]


def positions(found: list[tuple[int, float]]) -> list[int]:
    return [p for p, _ in found]


class SmallIVF(VectorIndex):
    """The IVF path from 300 vectors on (the real threshold is 10 000)."""

    IVF_THRESHOLD = 300
    MIN_PROBES = 4


# --------------------------------------------------------------------- exact (small)


def test_hand_built_vectors_come_back_best_first_with_their_cosines() -> None:
    index = VectorIndex.build(
        np.array([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0], [0, 0, 0], [-1, 0, 0]], dtype=np.float32)
    )
    assert not index.trained
    found = index.nearest(np.array([1, 0, 0], dtype=np.float32), 10)
    assert positions(found) == [0, 2, 1, 4]  # the zero row 3 never comes back
    assert [round(score, 6) for _, score in found] == [1.0, 0.6, 0.0, -1.0]
    assert all(isinstance(p, int) and isinstance(s, float) for p, s in found)
    assert index.nearest(np.array([0, 1, 0], dtype=np.float32), 2) == index.nearest_exhaustive(
        np.array([0, 1, 0], dtype=np.float32), 2
    )
    assert positions(index.nearest(np.array([0, 1, 0], dtype=np.float32), 2)) == [1, 2]


def test_below_the_threshold_search_is_exact() -> None:
    vectors = random_unit(500, seed=1)
    index = VectorIndex.build(vectors)
    assert not index.trained and len(index) == 500
    for query in random_unit(20, seed=2):
        assert positions(index.nearest(query, 10)) == brute_force(vectors, query, 10)
        assert index.nearest(query, 10) == index.nearest_exhaustive(query, 10)


def test_k_larger_than_the_index_returns_everything_searchable() -> None:
    vectors = random_unit(5, seed=3)
    vectors[2] = 0
    index = VectorIndex.build(vectors)
    assert len(index) == 4 and index.positions == 5
    assert sorted(positions(index.nearest(vectors[0], 50))) == [0, 1, 3, 4]
    assert index.nearest(vectors[0], 0) == []


def test_an_empty_index_and_a_zero_query_find_nothing() -> None:
    empty = VectorIndex()
    assert len(empty) == 0
    assert empty.nearest(random_unit(1, seed=4)[0], 10) == []
    assert empty.nearest_exhaustive(random_unit(1, seed=4)[0], 10) == []
    built_empty = VectorIndex.build(np.zeros((0, DIMENSIONS), dtype=np.float32))
    assert len(built_empty) == 0 and built_empty.nearest(random_unit(1, seed=4)[0], 3) == []
    index = VectorIndex.build(random_unit(10, seed=5))
    assert index.nearest(np.zeros(DIMENSIONS, dtype=np.float32), 3) == []


def test_zero_rows_take_a_position_and_never_come_back() -> None:
    index = VectorIndex()
    assert index.add(np.zeros(DIMENSIONS, dtype=np.float32)) == 0
    vector = random_unit(1, seed=6)[0]
    assert index.add(vector) == 1
    assert index.add(np.zeros(DIMENSIONS, dtype=np.float32)) == 2
    assert len(index) == 1 and index.positions == 3
    assert positions(index.nearest(vector, 10)) == [1]
    assert positions(index.nearest(-vector, 10)) == [1]  # even when everything is far


def test_excluded_positions_are_left_out_and_others_fill_in() -> None:
    vectors = random_unit(200, seed=7)
    index = VectorIndex.build(vectors)
    query = vectors[10]
    best = brute_force(vectors, query, 8)
    assert best[0] == 10
    found = positions(index.nearest(query, 5, excluded={10, best[2]}))
    assert found == [p for p in best if p not in {10, best[2]}][:5]
    assert positions(index.nearest_exhaustive(query, 5, excluded=[10, best[2]])) == found
    assert index.nearest(query, 5, excluded=range(200)) == []


def test_add_and_remove_keep_positions() -> None:
    vectors = random_unit(50, seed=8)
    index = VectorIndex.build(vectors[:30])
    for row in vectors[30:]:
        assert index.add(row) == index.positions - 1
    assert index.positions == 50 and len(index) == 50
    index.remove(7)
    index.remove(7)  # twice: harmless
    index.remove(49)
    assert len(index) == 48 and index.positions == 50
    assert index.add(vectors[7]) == 50  # a position is never given twice
    gone = {7, 49}
    for query in (vectors[7], vectors[49], vectors[0]):
        found = positions(index.nearest(query, 60))
        assert 7 not in found and 49 not in found
        everything = np.vstack([vectors, vectors[7:8]])
        assert found == brute_force(everything, query, 60, gone)
    with pytest.raises(IndexError):
        index.remove(51)
    with pytest.raises(IndexError):
        index.remove(-1)


def test_wrong_shapes_are_refused() -> None:
    index = VectorIndex.build(random_unit(3, seed=9))
    with pytest.raises(ValueError, match="dimensions"):
        index.add(np.ones(DIMENSIONS + 1, dtype=np.float32))
    with pytest.raises(ValueError, match="one vector"):
        index.add(random_unit(2, seed=9))
    with pytest.raises(ValueError, match="dimensions"):
        index.nearest(np.ones(DIMENSIONS - 1, dtype=np.float32), 3)


# --------------------------------------------------------------------- IVF (forced)


def recall_at_10(index: VectorIndex, queries: Vectors) -> float:
    hits = 0
    total = 0
    for query in queries:
        exact = set(positions(index.nearest_exhaustive(query, 10)))
        hits += len(exact & set(positions(index.nearest(query, 10))))
        total += len(exact)
    return hits / total


def test_the_ivf_path_finds_nearly_all_true_neighbours() -> None:
    vectors = clustered(6000, clusters=40, seed=10)
    index = SmallIVF.build(vectors)
    assert index.trained and index.lists > 40
    queries = clustered(100, clusters=40, seed=10 + 1000)
    assert recall_at_10(index, queries) >= 0.95
    # exhaustive is exact, whatever the lists
    for query in queries[:10]:
        assert positions(index.nearest_exhaustive(query, 10)) == brute_force(vectors, query, 10)


def test_the_ivf_path_is_approximate_when_it_probes_one_list() -> None:
    """The recall test above could not fail if probing were secretly exhaustive."""

    class OneProbe(SmallIVF):
        MIN_PROBES = 1
        PROBE_SHARE = 0.0

    index = OneProbe.build(clustered(6000, clusters=40, seed=10))
    assert recall_at_10(index, clustered(100, clusters=40, seed=10 + 1000)) < 0.8


def test_ivf_build_is_deterministic() -> None:
    vectors = clustered(2000, clusters=20, seed=13)
    first, second = SmallIVF.build(vectors), SmallIVF.build(vectors)
    queries = clustered(20, clusters=20, seed=14)
    assert [first.nearest(q, 10) for q in queries] == [second.nearest(q, 10) for q in queries]


def test_ivf_add_remove_excluded_and_zero_rows() -> None:
    vectors = clustered(2000, clusters=20, seed=15)
    vectors[5] = 0
    index = SmallIVF.build(vectors)
    assert index.trained and len(index) == 1999
    extra = clustered(100, clusters=20, seed=16)
    for row in extra:
        index.add(row)
    assert index.add(np.zeros(DIMENSIONS, dtype=np.float32)) == 2100
    assert len(index) == 2099 and index.positions == 2101
    index.remove(0)
    index.remove(2050)
    everything = np.vstack([vectors, extra, np.zeros((1, DIMENSIONS), dtype=np.float32)])
    gone = {0, 2050}
    for query in (vectors[0], extra[50], extra[3]):
        exact = positions(index.nearest_exhaustive(query, 10, excluded={1}))
        assert exact == brute_force(everything, query, 10, gone | {1})
        found = positions(index.nearest(query, 10, excluded={1}))
        assert not {0, 2050, 1, 5, 2100} & set(found)
    # an added vector is found: it went into its nearest list
    assert positions(index.nearest(extra[3], 1)) == [2003]


def test_growing_past_the_threshold_trains_and_doubling_retrains() -> None:
    vectors = clustered(1300, clusters=20, seed=17)
    index = SmallIVF()
    for row in vectors[:299]:
        index.add(row)
    assert not index.trained
    index.add(vectors[299])
    assert index.trained
    lists_at_300 = index.lists
    for row in vectors[300:599]:
        index.add(row)
    assert index.lists == lists_at_300
    index.add(vectors[599])  # twice the vectors of the last training
    assert index.lists > lists_at_300
    for row in vectors[600:]:
        index.add(row)
    assert index.positions == 1300
    queries = clustered(50, clusters=20, seed=18)
    assert recall_at_10(index, queries) >= 0.95
    for query in queries[:5]:
        assert positions(index.nearest_exhaustive(query, 10)) == brute_force(vectors, query, 10)


def test_memory_is_about_four_bytes_per_dimension() -> None:
    vectors = random_unit(3000, seed=19)
    for index in (VectorIndex.build(vectors), SmallIVF.build(vectors)):
        per_vector = index.nbytes / 3000
        assert 4 * DIMENSIONS <= per_vector <= 4 * DIMENSIONS + 64


# --------------------------------------------------------------------- benchmark


class WordHashEncoder:
    """A stand-in for the sentence encoder: the normalised sum of one seeded random vector
    per word (texts sharing words are near), fast and without a model."""

    name = "word-hash/test"

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._words: dict[str, Vectors] = {}

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                if word not in self._words:
                    self._words[word] = random_unit(1, seed=zlib.crc32(word.encode()))[0]
                out[row] += self._words[word]
        return unit(out)


@pytest.mark.parametrize(("size", "embed_limit"), [(300, 1000), (300, 120)])
def test_semantic_benchmark_smoke(size: int, embed_limit: int) -> None:
    encoder = WordHashEncoder()
    result = run_matching_benchmark(
        size, queries=12, seed=3, semantic=True, encoder=encoder, embed_limit=embed_limit
    )
    semantic = result["semantic"]
    assert semantic["enabled"] and semantic["encoder"] == "word-hash/test"
    assert semantic["embedded"] == min(size, embed_limit)
    assert semantic["embedded"] + semantic["derived"] == size
    # documents in batches (the sample only), then the queries one at a time
    batch = semantic["embed_batch"]
    assert encoder.calls[: math.ceil(semantic["embedded"] / batch)] == [
        min(batch, semantic["embedded"] - start) for start in range(0, semantic["embedded"], batch)
    ]
    assert encoder.calls.count(1) >= 12
    assert semantic["queries"] == 12 and semantic["recall_queries"] == 12
    assert semantic["recall_at_10"] == 1.0  # 300 vectors: exact search
    assert semantic["nearest_p50_ms"] <= semantic["nearest_p95_ms"]
    assert semantic["index_bytes_per_vector"] >= 4 * DIMENSIONS
    assert json.loads(json.dumps(result)) == result
    report = format_matching_report(result)
    assert "recall@10" in report and "recall@5" in report
    assert "speed-up        words + meaning p95 vs the exhaustive scan" in report
    assert ("noise" in report) == (size > embed_limit)


def test_the_semantic_benchmark_is_skipped_unless_asked() -> None:
    result = run_matching_benchmark(200, queries=5, seed=3)
    assert result["semantic"]["enabled"] is False
    assert "Semantic search: skipped" in format_matching_report(result)
    assert "speed-up" not in format_matching_report(result)


def test_the_benchmark_embeds_what_the_similarity_index_analyses() -> None:
    assert document_text(Document("d", "Compost", "Rue Haute")) == "Compost\nRue Haute"
    assert document_text(Document("d", "Compost")) == "Compost"


@pytest.mark.parametrize("threshold", [10_000, 50])
def test_cosines_of_given_positions(monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    """The exact cosine of candidates found by the words, in any list, 0 for a position
    without vector or removed."""
    monkeypatch.setattr(VectorIndex, "IVF_THRESHOLD", threshold)
    vectors = clustered(300, 6, seed=5)
    vectors[7] = 0  # a document without vector
    index = VectorIndex.build(vectors)
    index.remove(11)
    query = random_unit(1, seed=9)[0]
    positions = [3, 7, 11, 299, 3]
    got = index.cosines(query, positions)
    expected = [float(vectors[3] @ query), 0.0, 0.0, float(vectors[299] @ query)]
    assert got.tolist()[:4] == pytest.approx(expected, abs=1e-5)
    assert got[4] == got[0]
    assert index.cosines(query, []).shape == (0,)
    assert not index.cosines(np.zeros(DIMENSIONS, dtype=np.float32), positions).any()
