"""The command-line contracts other tools depend on (JSON lines) and the bench commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

INTAKE = Path(sys.executable).parent / "intake"
STARTER = Path(__file__).parents[2] / "bot" / "data" / "starter_initiatives.csv"


def intake(
    *args: str, stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    return subprocess.run(
        [str(INTAKE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def lines(*objects: object) -> str:
    return "".join(
        (o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)) + "\n" for o in objects
    )


def test_suggest_themes_contract() -> None:
    result = intake(
        "suggest-themes",
        stdin=lines(
            {
                "id": "a",
                "text": "Des bacs de compost pour les épluchures du quartier",
                "language": "fr",
            },
            {"id": 7, "text": "Meer fietsenstallingen en een veilige fietsroute naar school"},
            {"id": "e", "text": ""},
        ),
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == ["a", 7, "e"]
    assert answers[0]["themes"][0]["theme"] == "compost"
    assert "mobility" in [t["theme"] for t in answers[1]["themes"]]
    assert answers[2]["themes"] == []
    for answer in answers:
        assert len(answer["themes"]) <= 3
        scores = [t["score"] for t in answer["themes"]]
        assert scores == sorted(scores, reverse=True)


def test_bad_lines_get_an_error_in_their_place() -> None:
    result = intake(
        "suggest-themes",
        stdin=lines(
            "not json",
            {"id": 2, "text": 5},
            {"id": 3, "text": "ok", "language": "de"},
            "[" * 100_000 + "]" * 100_000,
            {"id": 4, "text": "Un jardin partagé"},
        ),
    )
    assert result.returncode == 1
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a.get("id") for a in answers] == [None, 2, 3, None, 4]
    assert all("error" in a for a in answers[:4]) and "themes" in answers[4]
    assert answers[3]["error"] == "line 4: JSON nested too deeply"


def test_find_similar_contract_across_languages() -> None:
    result = intake(
        "find-similar",
        "--initiatives",
        str(STARTER),
        stdin=lines(
            {
                "id": "q1",
                "text": "Een samentuin met de buren",
                "language": "nl",
                "commune": "Anderlecht",
            },
            {"id": "q2", "text": "A repair café where neighbours fix things"},
            {"id": "q3", "text": "Quantum chromodynamics lecture series"},
            {"id": "q4", "text": "x", "commune": "Paris"},
        ),
    )
    assert result.returncode == 1  # q4's commune is unknown
    answers = {a["id"]: a for a in map(json.loads, result.stdout.splitlines())}
    matches = answers["q1"]["matches"]
    assert 1 <= len(matches) <= 5
    assert set(matches[0]) == {"initiative_id", "score", "reasons"}
    assert any("vegetable_garden" in reason for reason in matches[0]["reasons"])
    assert any(m["initiative_id"] == "bxl052" for m in answers["q2"]["matches"])
    assert answers["q3"]["matches"] == []
    assert "unknown commune" in answers["q4"]["error"]


def test_find_similar_refuses_a_broken_catalogue(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("name\nno id column\n")
    result = intake("find-similar", "--initiatives", str(broken), stdin=lines({"text": "x"}))
    assert result.returncode == 2 and "missing column" in result.stderr


def test_bench_matching_json() -> None:
    result = intake(
        "bench", "matching", "--size", "1500", "--queries", "20", "--no-semantic", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size"] == 1500
    assert report["semantic"]["enabled"] is False  # no model loaded, no texts embedded
    for key in ("build_seconds", "query_p50_ms", "query_p95_ms", "recall_at_5", "peak_memory_mb"):
        assert isinstance(report[key], int | float)
    assert 0 <= report["recall_at_5"] <= 1


def test_bench_themes_on_a_labelled_file(tmp_path: Path) -> None:
    (tmp_path / "paris_bp_laureats_with_descriptions_fr.csv").write_text(
        "project_id,edition,thematique,title,description\n"
        "1,2020,Sport,Un terrain de basket,Rénover le terrain de sport du square.\n"
        "2,2020,Propreté,Des poubelles de tri,Installer des poubelles et organiser un nettoyage.\n",
        encoding="utf-8",
    )
    result = intake("bench", "themes", "--eval-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)


def test_bench_themes_says_when_there_is_no_data(tmp_path: Path) -> None:
    result = intake("bench", "themes", "--eval-dir", str(tmp_path / "missing"))
    assert result.returncode == 2 and "no evaluation data" in result.stderr
