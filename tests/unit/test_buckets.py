"""Bucket transforms: events to absolute row measures, duplicates once, late buckets closed."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import DocumentEvent, DossierEvent, Event, IncidentEvent, NdxpTransaction
from govpulse.events.document import DocumentAction
from govpulse.events.dossier import DossierStatus
from streams import buckets

START = local_day(2024, 10, 1).replace(hour=9)


def feed_events(feed: str, hours: int = 1, scale: float = 0.02) -> list[Event]:
    config = SimulationConfig(seed=31, scale=scale, feeds=(feed,))
    return [e for _, e in simulate(config, START, START + timedelta(hours=hours))]


def aggregate(feed: str, events: Sequence[Event]) -> dict[str, buckets.BucketState]:
    states: dict[str, buckets.BucketState] = {}
    for event in events:
        key = buckets.bucket_key(event.agency, buckets.minute_of(event.occurred_at))
        state = states.setdefault(key, buckets.new_state(0))
        buckets.apply_events(feed, state, [event], late=False)
    return states


def all_rows(feed: str, states: dict[str, buckets.BucketState]) -> list[dict[str, Any]]:
    columns = AGGREGATE_TABLES[feed].columns
    return [
        dict(zip(columns, row, strict=True))
        for key, s in states.items()
        for row in buckets.rows(feed, key, s)
    ]


def test_ndxp_rows_count_sum_and_histogram_every_call() -> None:
    events = [e for e in feed_events("ndxp.transactions") if isinstance(e, NdxpTransaction)]
    rows = all_rows("ndxp.transactions", aggregate("ndxp.transactions", events))
    assert sum(r["calls"] for r in rows) == len(events)
    assert sum(r["latency_ms_sum"] for r in rows) == sum(e.latency_ms for e in events)
    assert sum(r["bytes_sum"] for r in rows) == sum(e.bytes for e in events)
    merged = histogram.merge(r["latency_hist"] for r in rows)
    assert sum(merged) == len(events)
    by_result = Counter(e.result.value for e in events)
    assert {k: sum(r["calls"] for r in rows if r["result"] == k) for k in by_result} == by_result
    exact = sorted(e.latency_ms for e in events)[int(0.95 * len(events))]
    p95 = histogram.quantile(merged, 0.95)
    assert p95 is not None and p95 / 2 <= exact <= p95 * 2  # within the bucket's span


def test_dossier_rows_split_submissions_completions_and_deadlines() -> None:
    events = [e for e in feed_events("portal.dossiers", hours=3) if isinstance(e, DossierEvent)]
    rows = all_rows("portal.dossiers", aggregate("portal.dossiers", events))
    submitted = [e for e in events if e.status is DossierStatus.SUBMITTED]
    assert sum(r["events"] for r in rows) == len(events)
    assert sum(r["events"] for r in rows if r["status"] == "submitted") == len(submitted)
    assert sum(
        r["events"] for r in rows if r["status"] == "submitted" and r["mode"] == "full_online"
    ) == sum(e.mode == "full_online" for e in submitted)
    assert sum(r["fee_vnd"] for r in rows) == sum(e.fee_vnd for e in submitted)
    assert sum(r["digitised"] for r in rows) == sum(e.digitised for e in submitted)
    completed = [e for e in events if e.status is DossierStatus.COMPLETED]
    assert sum(r["on_time"] + r["overdue"] for r in rows) == len(completed)


def test_documents_and_incidents_measures() -> None:
    documents = [
        e for e in feed_events("vdxp.documents", hours=2, scale=0.5) if isinstance(e, DocumentEvent)
    ]
    rows = all_rows("vdxp.documents", aggregate("vdxp.documents", documents))
    sent = [e for e in documents if e.action is DocumentAction.SENT]
    assert sum(r["receivers"] for r in rows) == sum(len(e.receivers) for e in sent)
    receipts = [e for e in documents if e.action is DocumentAction.RECEIPT]
    assert sum(r["delivery_ms_sum"] for r in rows) == sum(
        int((e.occurred_at - e.sent_at).total_seconds() * 1000) for e in receipts
    )
    config = SimulationConfig(seed=3, scale=1.0, feeds=("cyber.incidents",))
    incidents = [e for _, e in simulate(config, local_day(2024, 10, 1), local_day(2024, 10, 8))]
    rows = all_rows("cyber.incidents", aggregate("cyber.incidents", incidents))
    assert {r["stage"] for r in rows} == {"detected", "triaged", "contained", "resolved"}
    assert all(isinstance(r["protection_level"], int) for r in rows)
    assert sum(r["events"] for r in rows) == len(incidents) > 0
    assert all(isinstance(e, IncidentEvent) for e in incidents)


def test_duplicates_count_once_even_across_batches() -> None:
    events = feed_events("ndxp.transactions")[:200]
    state = buckets.new_state(0)
    minute_events = defaultdict(list)
    for e in events:
        minute_events[buckets.minute_of(e.occurred_at)].append(e)
    group = max(minute_events.values(), key=len)
    first = buckets.apply_events("ndxp.transactions", state, group, late=False)
    again = buckets.apply_events("ndxp.transactions", state, group + group[:3], late=False)
    assert len(first.counted) == len(group)
    assert again.counted == [] and len(again.duplicates) == len(group) + 3
    assert sum(row[0] for row in state["rows"].values()) == len(group)


def test_late_buckets_take_nothing_but_still_know_their_duplicates() -> None:
    events = feed_events("ndxp.transactions")[:50]
    state = buckets.new_state(0)
    buckets.apply_events("ndxp.transactions", state, events[:10], late=False)
    outcome = buckets.apply_events("ndxp.transactions", state, events[:20], late=True)
    assert len(outcome.duplicates) == 10 and len(outcome.late) == 10 and outcome.counted == []
    assert buckets.is_late(100, watermark_minute=200, grace_minutes=60)
    assert not buckets.is_late(150, watermark_minute=200, grace_minutes=60)
    assert not buckets.is_late(100, watermark_minute=None, grace_minutes=60)


def test_state_survives_a_json_round_trip_like_the_changelog() -> None:
    import orjson

    events = feed_events("ndxp.transactions")[:100]
    states = aggregate("ndxp.transactions", events)
    restored = {k: orjson.loads(orjson.dumps(v)) for k, v in states.items()}
    assert all_rows("ndxp.transactions", restored) == all_rows("ndxp.transactions", states)
    for key, state in restored.items():
        own = [
            e
            for e in events
            if buckets.bucket_key(e.agency, buckets.minute_of(e.occurred_at)) == key
        ]
        outcome = buckets.apply_events("ndxp.transactions", state, own, late=False)
        assert outcome.counted == [] and len(outcome.duplicates) == len(
            own
        )  # a restart recounts nothing


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_histogram_quantile_is_monotonic_and_bounded(q: float) -> None:
    hist = histogram.empty()
    for sample in (
        5,
        15,
        45,
        90,
        150,
        250,
        400,
        600,
        900,
        1200,
        1800,
        2500,
        4000,
        8000,
        20000,
        60000,
    ):
        hist[histogram.bucket_of(sample)] += 1
    value = histogram.quantile(hist, q)
    higher = histogram.quantile(hist, min(1.0, q + 0.04))
    assert value is not None and higher is not None
    assert 0 <= value <= higher <= histogram.BOUNDS_MS[-1]
    assert histogram.quantile(histogram.empty(), q) is None
