"""`intake bench load` on a tiny crowd and `intake bench memory` on a few conversations: they
drive the real bot (and the echo bot) through the emulator and report what they measured
(the figures themselves go in the README, never here)."""

from __future__ import annotations

import pytest

from bot.runners.benchmarks.load import ECHO_INPUTS, format_load_report, run_load_benchmark
from bot.runners.benchmarks.memory import format_memory_report, run_memory_benchmark

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
    report = format_load_report(result)
    assert "3 citizens arriving over 0 s, pausing 0–0.1 s" in report and "3/3" in report


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
