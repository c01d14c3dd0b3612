"""Injected faults are exactly what the stats say, and each kind looks as downstream expects."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import orjson

from connectors.calibration import local_day
from connectors.faults import FaultConfig, FaultInjector, Outgoing
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import decode
from govpulse.topics import feed

START = local_day(2024, 10, 1).replace(hour=8)
END = START + timedelta(hours=2)
CONFIG = SimulationConfig(seed=8, scale=0.01, feeds=("ndxp.transactions", "vdxp.documents"))


def run(faults: FaultConfig) -> tuple[list[Outgoing], FaultInjector]:
    injector = FaultInjector(faults)
    return list(injector.apply(simulate(CONFIG, START, END))), injector


def test_no_faults_means_every_event_once_in_order() -> None:
    clean, _injector = run(FaultConfig())
    assert len(clean) == sum(1 for _ in simulate(CONFIG, START, END))
    assert [o.timestamp_ms for o in clean] == sorted(o.timestamp_ms for o in clean)
    assert all(o.valid for o in clean)
    assert not FaultConfig().active


def test_duplicates_repeat_the_same_bytes() -> None:
    clean, _ = run(FaultConfig())
    faulty, injector = run(FaultConfig(seed=1, duplicate_rate=0.05))
    repeats = Counter(o.value for o in faulty) - Counter(o.value for o in clean)
    assert sum(repeats.values()) == sum(injector.stats.duplicates.values()) > 0
    assert set(repeats.values()) == {1}


def test_late_events_arrive_after_later_events_with_their_own_time() -> None:
    faulty, injector = run(FaultConfig(seed=2, late_rate=0.02, late_delay_mean_s=600))
    late = sum(injector.stats.late.values())
    assert late > 0
    out_of_order = sum(1 for a, b in itertools.pairwise(faulty) if b.timestamp_ms < a.timestamp_ms)
    assert 0 < out_of_order <= late
    clean, _ = run(FaultConfig())
    assert Counter(o.value for o in faulty) == Counter(o.value for o in clean)  # nothing lost


def test_malformed_elements_fail_validation_with_a_reason() -> None:
    faulty, injector = run(FaultConfig(seed=3, malformed_rate=0.05))
    bad = [o for o in faulty if not o.valid]
    assert len(bad) == sum(injector.stats.malformed.values()) > 10
    for out in bad:
        decoded = decode(feed(out.feed).model, out.value)
        assert decoded.events == [] and len(decoded.rejected) == 1
        assert decoded.rejected[0].reason
    assert any(o.whole_record for o in bad) and any(not o.whole_record for o in bad)


def test_a_silent_agency_emits_nothing_during_its_silence() -> None:
    silence_from = START + timedelta(minutes=30)
    faults = FaultConfig(
        silent_agencies=("01",), silent_from=silence_from, silent_for=timedelta(minutes=45)
    )
    faulty, injector = run(faults)
    hanoi = [o for o in faulty if o.key == "01"]
    start_ms = silence_from.timestamp() * 1000
    end_ms = start_ms + 45 * 60 * 1000
    assert not [o for o in hanoi if start_ms <= o.timestamp_ms < end_ms]
    assert [o for o in hanoi if o.timestamp_ms < start_ms] and [
        o for o in hanoi if o.timestamp_ms >= end_ms
    ]
    assert sum(injector.stats.silenced.values()) > 0
    assert all(orjson.loads(o.value)["agency"] == o.key for o in faulty if o.valid)
