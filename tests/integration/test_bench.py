"""`govpulse bench` end to end at a tiny scale: every figure measured, nothing left behind."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext

import pytest

from benchmarks.suite import BenchOptions, run_bench
from govpulse.db.migrate import list_namespaces
from govpulse.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


def _bench_namespaces(settings: Settings) -> set[str]:
    return {name for name in list_namespaces(settings) if name.startswith("bench_")}


def test_a_small_bench_run_measures_every_figure_and_drops_its_namespaces(
    stream_settings: Settings,
) -> None:
    before = _bench_namespaces(stream_settings)
    stages: list[str] = []

    def stage(name: str) -> AbstractContextManager[object]:
        stages.append(name)
        return nullcontext()

    options = BenchOptions(
        scale=0.02, hours=0.25, rate=500, freshness_s=3, archive=False,
        overload_records_per_s=300, overload_s=3,
    )  # fmt: skip
    figures = run_bench(stream_settings, options, stage=stage)

    assert figures["events"] > 0
    for rate in ("replay_events_per_s", "raw_ceiling_events_per_s", "pipeline_events_per_s"):
        assert figures[rate] > 0, rate
    assert figures["worker_cpu_s"] > 0 and figures["worker_peak_mb"] > 0
    assert figures["pipeline_db_checkpoints"] >= 0  # read from the server's statistics
    # The yardstick parses every event with far less work than the worker does for it.
    assert figures["plain_reader_events_per_cpu_s"] > 0
    # (0 when the tiny window is counted before the first sample: no CPU figure then.)
    assert 0 <= figures["worker_to_plain_reader_cpu"] < 1
    assert figures["freshness_probes"] > 0 and figures["freshness_probes_lost"] == 0
    assert figures["freshness_p99_s"] <= figures["freshness_max_s"]
    assert 0 <= figures["freshness_p50_s"] <= figures["freshness_p99_s"]
    assert not math.isnan(figures["freshness_p99_s"])
    assert figures["archive"] is False and figures["freshness_offered_events_per_s"] == 500
    # The load achieved is measured, not echoed, and is near what was asked: its scale comes from
    # the stage's own start (the day's average offered a quarter to twice the rate by the hour),
    # and a slot's first events no longer wait for all its entities (the seventh session's 0).
    assert 250 <= figures["freshness_load_events_per_s"] <= 750
    # (e): every offered record reached the worker; memory figures are read, not assumed.
    assert 300 <= figures["overload_records"] <= 300 * 3 + 1
    assert figures["overload_offered_records_per_s"] > 0
    assert 0 < figures["overload_worker_start_mb"] <= figures["overload_worker_peak_mb"]
    assert 0 < figures["overload_worker_warm_mb"] <= figures["overload_worker_peak_mb"]
    assert figures["overload_worker_after_mb"] > 0 and figures["overload_drained_s"] >= 0
    assert figures["overload_worker_window_passed_mb"] > 0
    assert [name[:3] for name in stages[1:]] == ["(d)", "(a)", "(b)", "(c)", "(e)"]
    assert _bench_namespaces(stream_settings) == before
