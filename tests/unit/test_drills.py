"""Drills: each packaged rule has one; active drills rewrite, drop or add valid events, only in
their window and for their target."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from connectors.calibration import local_day
from connectors.clock import ManualClock
from connectors.drills import SCENARIOS, Drill, DrillBook, new_drill
from connectors.faults import FaultConfig, Outgoing
from connectors.runner import RunOptions, run
from connectors.simulation import SimulationConfig
from govpulse.alerts.rules import load_rules
from govpulse.topics import feed
from streams.admission import admission_check

START = local_day(2024, 10, 1).replace(hour=9)


class ListSink:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, out: Outgoing) -> None:
        self.sent.append(out)

    def poll(self) -> None:
        pass


def simulate_with(book: DrillBook, feeds: tuple[str, ...], minutes: int = 30) -> list[Outgoing]:
    sink = ListSink()
    # NDXP is the busy feed: a fiftieth of the country is plenty.
    scale = 0.02 if "ndxp.transactions" in feeds else 0.3
    config = SimulationConfig(seed=3, scale=scale, feeds=feeds)
    options = RunOptions(start=START, end=START + timedelta(minutes=minutes), accelerate=0)
    run(sink, config, FaultConfig(), options, ManualClock(START), drills=book)
    return sink.sent


def admitted(out: Outgoing) -> bool:
    """The workers' own reference-data checks pass (a drill must not make dead letters)."""
    event = feed(out.feed).model.model_validate_json(out.value)
    return admission_check(out.feed)(event, out.key, datetime.now(UTC)) is None


def in_window(out: Outgoing, start: int, end: int) -> bool:
    low = (START + timedelta(minutes=start)).timestamp() * 1000
    return low <= out.timestamp_ms < (START + timedelta(minutes=end)).timestamp() * 1000


def drill_at(
    name: str, start: int, end: int, agency: str | None = None, provider: str | None = None
) -> Drill:
    return new_drill(
        name, START + timedelta(minutes=start), timedelta(minutes=end - start),
        agency=agency, provider=provider,
    )  # fmt: skip


def test_every_packaged_rule_has_a_drill() -> None:
    fired = {rule for scenario in SCENARIOS.values() for rule in scenario.fires}
    assert {rule.name for rule in load_rules()} <= fired


def test_an_ndxp_outage_fails_the_providers_calls_in_its_window_only() -> None:
    baseline = simulate_with(DrillBook(), ("ndxp.transactions",))
    provider = Counter(orjson.loads(o.value)["provider"] for o in baseline).most_common(1)[0][0]
    book = DrillBook()
    book.add(drill_at("ndxp_provider_outage", 10, 20, provider=provider))
    sent = simulate_with(book, ("ndxp.transactions",))
    assert len(sent) == len(baseline)
    for before, after in zip(baseline, sent, strict=True):
        event = orjson.loads(after.value)
        feed("ndxp.transactions").model.model_validate(event)  # still a valid event
        if in_window(after, 10, 20) and event["provider"] == provider:
            assert event["result"] in ("error", "timeout")
        else:
            assert after == before
    assert book.stats.rewritten["ndxp_provider_outage"] > 20


def test_a_silent_province_drops_all_its_events_and_a_storm_adds_critical_incidents() -> None:
    feeds = ("portal.dossiers", "cyber.incidents")
    baseline = simulate_with(DrillBook(), feeds)
    book = DrillBook()
    book.add(drill_at("silent_province", 5, 25, agency="79"))
    book.add(drill_at("incident_storm", 10, 20))
    sent = simulate_with(book, feeds)
    silenced = [o for o in sent if o.key == "79" and in_window(o, 5, 25)]
    assert all(b"DRILL-" in o.value for o in silenced)  # only the storm's, none of its own
    dropped = [o for o in baseline if o.key == "79" and in_window(o, 5, 25)]
    assert dropped and book.stats.dropped["silent_province"] == len(dropped)
    storm = [o for o in sent if b"DRILL-" in o.value]
    assert len(storm) == book.stats.added["incident_storm"] == 20  # 2 a minute for 10 minutes
    assert all(in_window(o, 10, 20) for o in storm)
    assert {orjson.loads(o.value)["severity"] for o in storm} == {"critical"}
    assert all(admitted(out) for out in storm)


@pytest.mark.parametrize(
    ("scenario", "feed_name", "field", "changed"),
    [
        ("latency_spike", "ndxp.transactions", "latency_ms", lambda a, b: b >= a + 2500),
        ("payment_gateway_failure", "portal.payments", "status", lambda a, b: b == "failed"),
        ("axis_delivery_failures", "vdxp.documents", "delivery_status", lambda a, b: b == "failed"),
    ],
)
def test_rewrites_stay_valid_and_do_what_they_say(
    scenario: str, feed_name: str, field: str, changed: object
) -> None:
    baseline = simulate_with(DrillBook(), (feed_name,), minutes=20)
    book = DrillBook()
    book.add(drill_at(scenario, 0, 20))
    sent = simulate_with(book, (feed_name,), minutes=20)
    pairs = [
        (orjson.loads(a.value), orjson.loads(b.value)) for a, b in zip(baseline, sent, strict=True)
    ]
    touched = [(a, b) for a, b in pairs if a != b]
    assert touched and book.stats.rewritten[scenario] == len(touched)
    assert all(changed(a[field], b[field]) for a, b in touched)  # type: ignore[operator]
    changed_out = [o for o, a in zip(sent, baseline, strict=True) if o != a]
    assert all(admitted(o) for o in changed_out)


def test_overdue_completions_add_a_backlog_completed_late() -> None:
    book = DrillBook()
    book.add(drill_at("overdue_completions", 10, 20, agency="79"))
    sent = simulate_with(book, ("portal.dossiers",))
    added = [orjson.loads(o.value) for o in sent if b"DRILL-" in o.value]
    assert len(added) == book.stats.added["overdue_completions"] == 30  # 3 a minute
    assert all(admitted(o) for o in sent if b"DRILL-" in o.value)
    for event in added:
        assert event["agency"] == "79" and event["status"] == "completed"
        assert event["occurred_at"] > event["due_at"]
    assert all(in_window(o, 10, 20) for o in sent if b"DRILL-" in o.value)


def test_drill_commands_are_validated_and_round_trip() -> None:
    with pytest.raises(ValueError, match="unknown drill 'flood'; valid drills: axis_delivery"):
        new_drill("flood", START, timedelta(minutes=5))
    with pytest.raises(ValueError, match="drill silent_province needs --agency"):
        new_drill("silent_province", START, timedelta(minutes=5))
    with pytest.raises(ValueError, match="at most 6:00:00"):
        new_drill("error_burst", START, timedelta(hours=7))
    drill = new_drill("error_burst", START, timedelta(minutes=5), service="VNEID")
    assert Drill.decode(drill.encode()) == drill
    assert drill.active(START) and not drill.active(START + timedelta(minutes=5))
    with pytest.raises(ValueError):
        Drill.decode(b'{"scenario": "error_burst"}')
