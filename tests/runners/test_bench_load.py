"""`intake bench load` on a tiny crowd: it drives the real bot and the echo bot through the
emulator and reports every answer (the figures themselves go in the README, never here)."""

from __future__ import annotations

import pytest

from bot.runners.benchmarks.load import (
    ECHO_STEPS,
    STEPS,
    format_load_report,
    run_load_benchmark,
)

pytestmark = pytest.mark.e2e


async def test_a_small_crowd_is_answered_by_both_bots() -> None:
    result = await run_load_benchmark(citizens=3, latency=0.01, concurrency=(2,))
    echo, bot = result["runs"]
    assert echo["updates"] == 3 * len(ECHO_STEPS)
    assert bot["updates"] == 3 * len(STEPS)
    assert bot["name"] == "intake bot, MAX_CONCURRENT_UPDATES=2"
    for run in (echo, bot):
        assert 0 < run["wait_p50_ms"] <= run["wait_p99_ms"]
        assert run["updates_per_second"] > 0
    report = format_load_report(result)
    assert "3 citizens at once" in report and "MAX_CONCURRENT_UPDATES=2" in report
