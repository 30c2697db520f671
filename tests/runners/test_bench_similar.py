"""`intake bench similar` on a tiny pairs file written here, in the real file's format: the
benchmark's plumbing (reading, scoring, ranking, reports), not its figures, which come from
the labelled pairs in ../shared/eval/ and go in the README."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runners.benchmarks.similar import (
    PAIRS_FILE,
    evaluate_similar,
    format_report,
    split_proposal,
)
from tests.matching.test_vectors import WordHashEncoder

REPOSITORY = Path(__file__).parents[2]

# Proposals invented for this test; the second group starts with a consultation heading.
COMPOST = (
    "Composteur de quartier\n\n"
    "Installer un composteur collectif dans le square pour les déchets de cuisine."
)
COMPOST_BINS = (
    "Bacs à compost partagés\n\n"
    "Des bacs à compost dans le square où les voisins déposent leurs déchets de cuisine."
)
BENCHES = "Plus de bancs\n\nAjouter des bancs le long de l'avenue pour se reposer."
NO_COMPOST = "Pas de compost au square\n\nLe compost attire les rats : il faut le retirer."
HEADING = "1. Comment mieux se déplacer en ville ?"
CYCLE_LANES = (
    f"{HEADING}\n\nPistes cyclables protégées\n\n"
    "Séparer les pistes cyclables de la route par des bordures."
)
SAFE_CYCLING = (
    "2. Une autre question de la consultation.\n\nVélo en sécurité\n\n"
    "Des pistes cyclables séparées de la route pour protéger les cyclistes."
)
NIGHT_BUS = f"{HEADING}\n\nBus de nuit\n\nFaire rouler des bus la nuit pendant le week-end."

PAIRS = [
    (COMPOST, COMPOST_BINS, "0"),
    (COMPOST, BENCHES, "2"),
    (COMPOST, NO_COMPOST, "1"),
    (CYCLE_LANES, SAFE_CYCLING, "0"),
    (CYCLE_LANES, NIGHT_BUS, "2"),
]


def write_pairs(folder: Path, pairs: list[tuple[str, str, str]] = PAIRS) -> Path:
    names = {"0": "entailment", "1": "contradiction", "2": "neutral"}
    with (folder / PAIRS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["consultation", "premise", "hypothesis", "label", "label_name"])
        for premise, hypothesis, label in pairs:
            writer.writerow(["test", premise, hypothesis, label, names.get(label, "?")])
    return folder


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    """`intake bench similar …` with this checkout's code."""
    program = "import sys; from bot.runners.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", program, "bench", "similar", *args],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=300,
    )


def test_a_consultation_heading_is_not_part_of_the_proposal() -> None:
    assert split_proposal(CYCLE_LANES) == (
        "Pistes cyclables protégées",
        "Séparer les pistes cyclables de la route par des bordures.",
    )
    assert split_proposal(BENCHES) == (
        "Plus de bancs",
        "Ajouter des bancs le long de l'avenue pour se reposer.",
    )
    assert split_proposal("  Un titre seul \n") == ("Un titre seul", "")


def test_words_only(tmp_path: Path) -> None:
    report = evaluate_similar(write_pairs(tmp_path), semantic=False)
    assert report.semantic == "off" and report.proposals == 7
    pairs = report.pairs
    assert [(label.label, label.pairs) for label in pairs.labels] == [
        ("entailment", 2),
        ("neutral", 2),
        ("contradiction", 1),
    ]
    assert all(label.median_cosine is None for label in pairs.labels)
    assert pairs.cosine_auc_vs_rest is pairs.cosine_auc_vs_neutral is None
    # Pairs with most of their words in common, and pairs without: the obvious is found.
    assert [label.shown for label in pairs.labels] == [2, 0, 0]
    assert pairs.shown_precision == pairs.shown_recall == 1.0
    assert pairs.auc_vs_rest == pairs.auc_vs_neutral == 1.0
    assert pairs.best_cut is not None and pairs.best_cut.threshold >= report.min_score
    assert [r.method for r in report.retrieval] == ["search", "search_exhaustive"]
    for retrieval in report.retrieval:
        assert retrieval.queries == 2
        assert retrieval.recall_at_1 == retrieval.mrr == 1.0 and retrieval.not_found == 0
        assert retrieval.mean_ms > 0
    assert json.loads(report.to_json())["pairs"]["labels"][0]["pairs"] == 2
    text = format_report(report)
    assert "Sentence encoder beside the words: off" in text
    assert "7 distinct proposals" in text and "ROC AUC score" in text
    assert "ROC AUC cosine" not in text and "search_exhaustive" in text


def test_with_an_encoder(tmp_path: Path) -> None:
    encoder = WordHashEncoder()
    report = evaluate_similar(write_pairs(tmp_path), semantic=encoder)
    assert report.semantic == "word-hash/test"
    assert encoder.calls == [7]  # every proposal once, queries reuse the vectors
    pairs = report.pairs
    assert all(label.median_cosine is not None for label in pairs.labels)
    assert pairs.cosine_auc_vs_rest is not None and pairs.cosine_best_cut is not None
    assert report.encode_ms_per_text > 0
    text = format_report(report)
    assert "ROC AUC cosine" in text and "encoded in" in text


def test_an_unknown_label_is_refused(tmp_path: Path) -> None:
    write_pairs(tmp_path, [(COMPOST, BENCHES, "3")])
    with pytest.raises(ValueError, match="line 2"):
        evaluate_similar(tmp_path, semantic=False)


def test_the_folder_or_the_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="evaluation folder not found"):
        evaluate_similar(tmp_path / "missing", semantic=False)
    with pytest.raises(FileNotFoundError, match=PAIRS_FILE):
        evaluate_similar(tmp_path, semantic=False)


def test_the_command_says_when_there_is_no_data(tmp_path: Path) -> None:
    result = bench("--eval-dir", str(tmp_path / "missing"), "--no-semantic")
    assert result.returncode == 2
    assert "no evaluation data" in result.stderr and "../shared/eval/" in result.stderr


def test_the_command_prints_json(tmp_path: Path) -> None:
    result = bench("--eval-dir", str(write_pairs(tmp_path)), "--no-semantic", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["semantic"] == "off" and report["proposals"] == 7
    assert [r["method"] for r in report["retrieval"]] == ["search", "search_exhaustive"]
