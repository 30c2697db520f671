"""`intake bench load` on a tiny crowd, `intake bench memory` on a few conversations and
`intake bench upload` with a small file: they drive the real processes through the emulator
and report what they measured (the figures themselves go in the README, never here)."""

from __future__ import annotations

import pytest

from bot.runners.benchmarks.load import ECHO_INPUTS, format_load_report, run_load_benchmark
from bot.runners.benchmarks.memory import format_memory_report, run_memory_benchmark
from bot.runners.benchmarks.upload import catalogue_csv, format_upload_report, run_upload_benchmark
from matching.catalogue import parse_catalogue

pytestmark = pytest.mark.e2e


async def test_a_small_crowd_walks_the_whole_intake_with_both_bots() -> None:
    result = await run_load_benchmark(3, think=(0.0, 0.1), rtt_ms=10, concurrency=2)
    echo, bot = result["runs"]
    assert echo["updates"] == 3 * ECHO_INPUTS and echo["completed"] == 3
    assert bot["name"] == "intake bot ×1 (polling)"
    assert bot["completed"] == 3 and bot["unique_references"]
    assert bot["updates"] >= 3 * 17  # /start to the submission
    for run in (echo, bot):
        assert 0 < run["wait_p50_ms"] <= run["wait_p95_ms"] <= run["wait_p99_ms"]
        assert run["updates_per_second"] > 0 and run["calls_per_update"] >= 1
        assert run["peak_rss_mb"] > 10
        assert run["bot_cpu_cores"] > 0 and 0 < run["machine_busy"] <= 1
    report = format_load_report(result)
    assert "3 citizens arriving over 0 s, pausing 0–0.1 s" in report and "3/3" in report
    assert "cores" in report and "% busy" in report


async def test_several_instances_need_postgresql() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        await run_load_benchmark(2, instances=2)


async def test_two_instances_by_webhook_on_postgresql(postgres_url: str) -> None:
    result = await run_load_benchmark(
        3, rtt_ms=10, instances=2, database_url=postgres_url, limits=False
    )
    bot = result["runs"][1]
    assert bot["name"] == "intake bot ×2 (webhook)"
    assert bot["completed"] == 3 and bot["unique_references"]
    assert result["database"] == "postgresql" and not result["limits"]


async def test_the_memory_benchmark_opens_the_conversations() -> None:
    result = await run_memory_benchmark(5)
    assert result["open_at_title"] == 6  # with the warm-up citizen
    assert result["rss_before_mb"] > 10 and result["rss_after_mb"] > 10
    assert "6 conversations opened" in format_memory_report(result)


def test_the_synthetic_catalogue_is_the_size_asked_and_valid() -> None:
    data, rows = catalogue_csv(0.25)
    assert 0.25 * 1024 * 1024 <= len(data) < 0.3 * 1024 * 1024
    records, rejected = parse_catalogue(data, "csv")
    assert len(records) == rows and rejected == []


async def test_the_upload_benchmark_times_both_probes_at_rest_and_during_the_upload() -> None:
    result = await run_upload_benchmark(0.2)
    assert result["initiatives_after"] > result["rows"]  # the starter catalogue, and the file
    for probe in result["probes"].values():
        assert probe["failures"] == 0
        assert probe["at rest"]["count"] > 5 and probe["during the upload"]["count"] >= 1
    report = format_upload_report(result)
    assert f"({result['rows']} rows)" in report and "during the upload" in report
