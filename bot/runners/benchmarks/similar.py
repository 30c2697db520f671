"""Benchmark of similar initiatives (:mod:`matching.similar`) on real, labelled pairs.

The pairs live outside the project (``../shared/eval/``, see its README): they are read here
for evaluation only, never copied into the project, its lexicons or its tests.

Data: ``fr_consultation_proposal_pairs_nli.csv``, pairs of proposals (A the ``premise``, B the
``hypothesis``) from two French national consultations, each labelled 0, 1 or 2. The eval
README calls the mapping inferred; the file's ``label_name`` column reads 0 entailment,
1 contradiction, 2 neutral, and reading the pairs agrees with it: in an entailment pair B
proposes the same measure as A or one going the same way (looser than "the same idea", but
the label closest to it); in a contradiction pair B takes the opposite stance on A's
question; in a neutral pair B proposes something else within the same consultation.
Entailment is thus what "similar initiatives" should show and neutral what it should not; a
contradiction is on A's subject, and showing it to a citizen is not wrong (it counts in "the
rest", not in "vs neutral"). All the proposals of a consultation answer one national
question, so even neutral pairs share a subject: a harder test than a catalogue of
neighbourhood initiatives, where most pairs have nothing in common.

Each text is a title and a description, two blocks separated by a blank line; in one of the
two consultations a third block comes first, the heading of the consultation's section (the
question the citizen answered), shared by many texts whatever their idea. It is dropped
(:func:`split_proposal`): the bot compares what citizens wrote; a proposal found under two
headings is one document. A proposal is a :class:`Document` (title as ``name``) and its
:class:`Query` is what the bot sends for a proposal, title and description on their own
lines, in French, without commune or themes.

Pair scoring: one :class:`SimilarityIndex` over all distinct proposals of the file (its IDF
weights need a collection; this one is a consultation's proposals, as the bot's is the
citizens'), and for each pair the score of B for the query A, as
:meth:`SimilarityIndex.search_exhaustive` returns it with ``k`` = every document. The index
returns only the matches at or above its threshold (``MIN_SCORE``, lower for a document on
the query's main topic): a B it does not return is "not shown" and scores 0. Reported:
precision and recall of "shown" for the entailment pairs, the ROC AUC of the score (ties
count half) for entailment against the rest and against neutral, and the cut ``score ≥ t``
that best separates entailment from neutral (largest share of entailment above minus share
of neutral above), among ``t ≥ MIN_SCORE`` since below it a hidden pair's score is unknown.
With the sentence encoder, the same for the cosine of the two texts' vectors alone (what the
score's meaning part is made from).

Retrieval: each distinct A with at least one entailment partner is a query over all the other
proposals (A excluded); the rank of its best-ranked partner among the first :data:`RANK_DEPTH`
matches gives recall@1, @3, @5 and the MRR (0 when no partner is among them), with
:meth:`SimilarityIndex.search` (the bot's fast path) and
:meth:`SimilarityIndex.search_exhaustive`. The other proposals are not labelled against A and
some may well be the same idea: these figures are a lower bound.

Each distinct proposal is encoded once, outside the timings: documents carry their vectors (as
the bot's stored ones) and queries theirs (as ``intake bench matching`` gives them); the
encoding time is reported apart. ``semantic=False`` (``--no-semantic``) measures the words
alone, so that what meaning adds is visible.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.runners.benchmarks.eval_files import eval_file
from matching.semantic import Semantic, Vectors, resolve
from matching.similar import MIN_SCORE, Document, Match, Query, SimilarityIndex, document_text

__all__ = [
    "PAIRS_FILE",
    "RANK_DEPTH",
    "Cut",
    "LabelReport",
    "PairReport",
    "RetrievalReport",
    "SimilarReport",
    "evaluate_similar",
    "format_report",
    "split_proposal",
]

PAIRS_FILE = "fr_consultation_proposal_pairs_nli.csv"

ENTAILMENT, CONTRADICTION, NEUTRAL = "entailment", "contradiction", "neutral"
LABELS = {"0": ENTAILMENT, "1": CONTRADICTION, "2": NEUTRAL}
"""The file's label codes (see the module docstring for how the mapping was checked)."""

RANK_DEPTH = 10
"""Matches asked per retrieval query: a partner ranked deeper counts as not found."""

LANGUAGE = "fr"
_BLANK_LINE = re.compile(r"\n\s*\n")


def split_proposal(text: str) -> tuple[str, str]:
    """A text's title and description: its last two blocks (separated by blank lines); any
    block before them is a consultation heading, dropped. A single block is a title."""
    blocks = [block.strip() for block in _BLANK_LINE.split(text.strip()) if block.strip()]
    if len(blocks) < 2:
        return (blocks[0] if blocks else "", "")
    return blocks[-2], blocks[-1]


@dataclass(frozen=True)
class Cut:
    """A threshold and the shares of entailment and neutral pairs at or above it."""

    threshold: float
    entailment_above: float
    neutral_above: float


@dataclass(frozen=True)
class LabelReport:
    label: str
    pairs: int
    shown: int
    """Pairs whose B is among A's matches (score at or above the index's threshold)."""
    median_cosine: float | None
    """Median cosine of the two texts' vectors (None: words only)."""


@dataclass(frozen=True)
class PairReport:
    labels: tuple[LabelReport, ...]
    shown_precision: float
    """Entailment pairs among the pairs shown."""
    shown_recall: float
    """Entailment pairs shown among the entailment pairs."""
    auc_vs_rest: float
    auc_vs_neutral: float
    best_cut: Cut | None
    """Score threshold (≥ MIN_SCORE) that best separates entailment from neutral."""
    cosine_auc_vs_rest: float | None
    cosine_auc_vs_neutral: float | None
    cosine_best_cut: Cut | None


@dataclass(frozen=True)
class RetrievalReport:
    method: str
    queries: int
    recall_at_1: float
    recall_at_3: float
    recall_at_5: float
    mrr: float
    not_found: int
    """Queries with no partner among the first RANK_DEPTH matches."""
    mean_ms: float


@dataclass(frozen=True)
class SimilarReport:
    eval_dir: str
    file: str
    semantic: str
    """The sentence encoder used beside the words, or "off"."""
    min_score: float
    proposals: int
    """Distinct proposals (title and description), the documents of the index."""
    build_seconds: float
    encode_ms_per_text: float
    """0 with words only."""
    pairs: PairReport
    retrieval: tuple[RetrievalReport, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class _Pair:
    premise: int  # positions in the distinct proposals
    hypothesis: int
    label: str


def _read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[_Pair]]:
    """The distinct proposals (title, description) of the file, in order of first
    appearance, and its pairs. The same proposal under two headings is one proposal."""
    positions: dict[tuple[str, str], int] = {}
    pairs: list[_Pair] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            code = (row.get("label") or "").strip()
            if code not in LABELS:
                raise ValueError(f"{path.name}, line {line}: label {code!r} is not 0, 1 or 2")
            premise = split_proposal(row.get("premise") or "")
            hypothesis = split_proposal(row.get("hypothesis") or "")
            a = positions.setdefault(premise, len(positions))
            b = positions.setdefault(hypothesis, len(positions))
            pairs.append(_Pair(a, b, LABELS[code]))
    return list(positions), pairs


def _auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a positive scores above a negative, ties counting half."""
    if not positives or not negatives:
        return 0.0
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _best_cut(positives: Sequence[float], negatives: Sequence[float], lowest: float) -> Cut | None:
    """The threshold ≥ *lowest* with the largest share of positives at or above it minus
    the share of negatives (None when there is no such value)."""
    if not positives or not negatives:
        return None
    best: Cut | None = None
    for threshold in sorted({*positives, *negatives}):
        if threshold < lowest:
            continue
        cut = Cut(
            threshold,
            sum(p >= threshold for p in positives) / len(positives),
            sum(n >= threshold for n in negatives) / len(negatives),
        )
        if best is None or (
            cut.entailment_above - cut.neutral_above > best.entailment_above - best.neutral_above
        ):
            best = cut
    return best


def _separation(
    pairs: Sequence[_Pair], values: Sequence[float], lowest: float
) -> tuple[float, float, Cut | None]:
    """How well *values* (one per pair) tell entailment from the rest and from neutral:
    the two ROC AUCs, and the best cut against neutral among thresholds ≥ *lowest*."""
    entailment = [v for pair, v in zip(pairs, values, strict=True) if pair.label == ENTAILMENT]
    rest = [v for pair, v in zip(pairs, values, strict=True) if pair.label != ENTAILMENT]
    neutral = [v for pair, v in zip(pairs, values, strict=True) if pair.label == NEUTRAL]
    return _auc(entailment, rest), _auc(entailment, neutral), _best_cut(entailment, neutral, lowest)


def _score_pairs(
    index: SimilarityIndex, queries: Sequence[Query], pairs: Sequence[_Pair]
) -> tuple[list[float], list[bool]]:
    """Each pair's score (0 when not shown) and whether it is shown."""
    matches: dict[int, dict[str, float]] = {}
    for premise in sorted({pair.premise for pair in pairs}):
        found = index.search_exhaustive(queries[premise], k=len(index))
        matches[premise] = {match.document_id: match.score for match in found}
    shown = [str(pair.hypothesis) in matches[pair.premise] for pair in pairs]
    scores = [matches[pair.premise].get(str(pair.hypothesis), 0.0) for pair in pairs]
    return scores, shown


def _pair_report(
    pairs: Sequence[_Pair], scores: list[float], shown: list[bool], cosines: list[float] | None
) -> PairReport:
    labels = []
    for label in (ENTAILMENT, NEUTRAL, CONTRADICTION):
        of_label = [i for i, pair in enumerate(pairs) if pair.label == label]
        median = None
        if cosines is not None and of_label:
            median = statistics.median(cosines[i] for i in of_label)
        labels.append(LabelReport(label, len(of_label), sum(shown[i] for i in of_label), median))
    entailment = [i for i, pair in enumerate(pairs) if pair.label == ENTAILMENT]
    shown_entailment = sum(shown[i] for i in entailment)
    auc_vs_rest, auc_vs_neutral, best_cut = _separation(pairs, scores, lowest=MIN_SCORE)
    cosine_vs_rest = cosine_vs_neutral = cosine_cut = None
    if cosines is not None:
        cosine_vs_rest, cosine_vs_neutral, cosine_cut = _separation(
            pairs, cosines, lowest=-math.inf
        )
    return PairReport(
        labels=tuple(labels),
        shown_precision=shown_entailment / sum(shown) if any(shown) else 0.0,
        shown_recall=shown_entailment / len(entailment) if entailment else 0.0,
        auc_vs_rest=auc_vs_rest,
        auc_vs_neutral=auc_vs_neutral,
        best_cut=best_cut,
        cosine_auc_vs_rest=cosine_vs_rest,
        cosine_auc_vs_neutral=cosine_vs_neutral,
        cosine_best_cut=cosine_cut,
    )


def _retrieval(
    index: SimilarityIndex, queries: Sequence[Query], pairs: Sequence[_Pair], exhaustive: bool
) -> RetrievalReport:
    partners: dict[int, set[str]] = {}
    for pair in pairs:
        if pair.label == ENTAILMENT:
            partners.setdefault(pair.premise, set()).add(str(pair.hypothesis))
    search = index.search_exhaustive if exhaustive else index.search
    ranks: list[int | None] = []  # 1-based rank of the best-ranked partner
    elapsed = 0.0
    for premise, expected in sorted(partners.items()):
        start = time.perf_counter()
        found: list[Match] = search(queries[premise], RANK_DEPTH, (str(premise),))
        elapsed += time.perf_counter() - start
        ids = [match.document_id for match in found]
        ranks.append(next((rank for rank, i in enumerate(ids, 1) if i in expected), None))
    count = len(ranks)

    def recall(depth: int) -> float:
        return sum(r is not None and r <= depth for r in ranks) / count if count else 0.0

    return RetrievalReport(
        method="search_exhaustive" if exhaustive else "search",
        queries=count,
        recall_at_1=recall(1),
        recall_at_3=recall(3),
        recall_at_5=recall(5),
        mrr=sum(1 / r for r in ranks if r is not None) / count if count else 0.0,
        not_found=sum(r is None for r in ranks),
        mean_ms=1000 * elapsed / count if count else 0.0,
    )


def evaluate_similar(eval_dir: Path, semantic: Semantic = True) -> SimilarReport:
    """Run the benchmark on the pairs file in ``eval_dir``, with the sentence encoder
    (*semantic*: True for the process's, an :class:`~matching.semantic.Encoder`, or False
    for words only).

    Raises :class:`FileNotFoundError` naming the folder or the file when missing, and
    :class:`ValueError` for a label that is not 0, 1 or 2.
    """
    path = eval_file(eval_dir, PAIRS_FILE)
    parts, pairs = _read_pairs(path)
    encoder = resolve(semantic)
    vectors: Vectors | None = None
    encode_seconds = 0.0
    if encoder is not None:
        start = time.perf_counter()
        vectors = encoder.encode(
            [document_text(title, description) for title, description in parts]
        )
        encode_seconds = time.perf_counter() - start
    documents = [
        Document(str(i), title, description, language=LANGUAGE, vector=_row(vectors, i))
        for i, (title, description) in enumerate(parts)
    ]
    queries = [
        Query(document_text(title, description), LANGUAGE, vector=_row(vectors, i))
        for i, (title, description) in enumerate(parts)
    ]
    start = time.perf_counter()
    index = SimilarityIndex.build(documents, semantic=encoder if encoder is not None else False)
    build_seconds = time.perf_counter() - start
    scores, shown = _score_pairs(index, queries, pairs)
    cosines = None
    if vectors is not None:
        cosines = [float(vectors[pair.premise] @ vectors[pair.hypothesis]) for pair in pairs]
    return SimilarReport(
        eval_dir=str(eval_dir),
        file=PAIRS_FILE,
        semantic=encoder.name if encoder is not None else "off",
        min_score=MIN_SCORE,
        proposals=len(parts),
        build_seconds=build_seconds,
        encode_ms_per_text=1000 * encode_seconds / len(parts) if parts else 0.0,
        pairs=_pair_report(pairs, scores, shown, cosines),
        retrieval=(
            _retrieval(index, queries, pairs, exhaustive=False),
            _retrieval(index, queries, pairs, exhaustive=True),
        ),
    )


def _row(vectors: Vectors | None, position: int) -> Vectors | None:
    return None if vectors is None else vectors[position]


def _percent(value: float) -> str:
    return f"{100 * value:5.1f} %"


def _cut_text(name: str, cut: Cut | None) -> str:
    if cut is None:
        return f"{name}: none"
    return (
        f"{name} ≥ {cut.threshold:.3f} (entailment above {_percent(cut.entailment_above)}, "
        f"neutral above {_percent(cut.neutral_above)})"
    )


def format_report(report: SimilarReport) -> str:
    """A plain-text summary: pair scoring per label, then retrieval per search method."""
    pairs = report.pairs
    total = sum(label.pairs for label in pairs.labels)
    encoding = ""
    if report.semantic != "off":
        encoding = f", texts encoded in {report.encode_ms_per_text:.1f} ms each"
    lines = [
        f"Similar initiatives benchmark — {report.eval_dir}",
        f"Sentence encoder beside the words: {report.semantic}",
        "",
        f"{report.file}: {total} pairs, {report.proposals} distinct proposals "
        f"(index built in {report.build_seconds:.2f} s{encoding})",
        "",
        "Pair scoring — score of B for the query A, 0 when B is not shown",
        f"  (shown: at or above MIN_SCORE {report.min_score}, lower on the query's main topic)",
    ]
    for label in pairs.labels:
        line = (
            f"  {label.label:<13} {label.pairs:4d} pairs  shown {label.shown:4d} "
            f"({_percent(label.shown / label.pairs if label.pairs else 0.0)})"
        )
        if label.median_cosine is not None:
            line += f"  median cosine {label.median_cosine:.3f}"
        lines.append(line)
    lines += [
        f"  shown for entailment: precision {_percent(pairs.shown_precision)}  "
        f"recall {_percent(pairs.shown_recall)}",
        f"  ROC AUC score   entailment vs rest {pairs.auc_vs_rest:.3f}  "
        f"vs neutral {pairs.auc_vs_neutral:.3f}",
    ]
    if pairs.cosine_auc_vs_rest is not None and pairs.cosine_auc_vs_neutral is not None:
        lines.append(
            f"  ROC AUC cosine  entailment vs rest {pairs.cosine_auc_vs_rest:.3f}  "
            f"vs neutral {pairs.cosine_auc_vs_neutral:.3f}"
        )
    lines.append("  best cut entailment vs neutral: " + _cut_text("score", pairs.best_cut))
    if pairs.cosine_best_cut is not None:
        lines.append(
            "  best cut entailment vs neutral: " + _cut_text("cosine", pairs.cosine_best_cut)
        )
    queries = report.retrieval[0].queries if report.retrieval else 0
    lines += [
        "",
        f"Retrieval — {queries} queries A with an entailment partner, among the "
        f"{report.proposals - 1} other proposals, first {RANK_DEPTH} matches",
    ]
    for retrieval in report.retrieval:
        lines.append(
            f"  {retrieval.method:<17}  recall@1 {_percent(retrieval.recall_at_1)}  "
            f"@3 {_percent(retrieval.recall_at_3)}  @5 {_percent(retrieval.recall_at_5)}  "
            f"MRR {retrieval.mrr:.3f}  not found {retrieval.not_found}  "
            f"{retrieval.mean_ms:.2f} ms per query"
        )
    return "\n".join(lines)
