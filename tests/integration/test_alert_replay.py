"""Event-time alerting: a recorded incident replayed into a namespace makes the transitions it
made live, at the same event times; a backtest over the stored data finds them too.

The live run is the evaluator on the wall clock, stepped minute by minute by a test clock through
the hour the data covers (its windows only see the complete minutes before the evaluation time,
so the data of later minutes, already stored, does not count: it is as if they had not happened
yet). The replay is the real thing: `govpulse record`, `govpulse replay --max` into a fresh
namespace while its worker runs, evaluating on its leader timer in event time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.faults import FaultConfig
from connectors.simulation import SimulationConfig
from govpulse.alerts.rules import parse_rules
from govpulse.settings import Settings
from streams.alerting.evaluator import AlertEvaluator
from streams.alerting.state import AlertState
from tests.integration.test_alerting import (
    BURST_SERVICE,
    SILENT,
    START,
    TEST_RULES,
    ManualClock,
    burst,
    count,
    critical_incident,
    ndxp_calls,
    send,
)
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

END = START + timedelta(minutes=50)


@pytest.fixture
def replay_settings(stream_settings: Settings) -> Iterator[Settings]:
    from govpulse.db.migrate import drop_namespace, migrate

    settings = stream_settings.model_copy(update={"namespace": f"r{uuid.uuid4().hex[:12]}"})
    migrate(settings)
    yield settings
    drop_namespace(settings, settings.namespace, force=True)


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", *args]
    return subprocess.run(
        command, env=worker_env(settings, **env), capture_output=True, text=True, timeout=300
    )


def test_a_replayed_incident_fires_the_live_transitions_at_the_same_event_times(
    stream_settings: Settings, replay_settings: Settings, tmp_path: Path
) -> None:
    live, copy = stream_settings, replay_settings
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(live, GOVPULSE_ALERTS__ENABLED="false"), log)
    try:
        # 50 minutes of traffic; province 01 falls silent after 20; an NDXP error burst on one
        # service from minute 25 to 35, clean calls after; a critical incident at minute 30.
        faults = FaultConfig(silent_agencies=(SILENT,), silent_from=START + timedelta(minutes=20))
        config = SimulationConfig(
            seed=5, scale=0.05, feeds=("ndxp.transactions", "portal.dossiers")
        )
        traffic, _ = produce(live.kafka, live.namespace, config, START, END, faults)
        extra = burst(START + timedelta(minutes=25), 10, errors_per_minute=25)
        extra += burst(START + timedelta(minutes=35), 10, errors_per_minute=0)
        extra.append(critical_incident(START + timedelta(minutes=30)))
        send(live, extra)
        sent = traffic.sent + extra
        expected_calls = count(sent, "ndxp.transactions")
        wait_for(lambda: ndxp_calls(live) == expected_calls, 90, "the live aggregates", log)
    finally:
        stop_worker(worker)

    rules = parse_rules(TEST_RULES)
    clock = ManualClock(START)
    evaluator = AlertEvaluator(live, rules, clock=clock)

    async def live_run() -> list[tuple[str, str, str]]:
        seen = []
        for minute in range(1, 51):
            clock.now = START + timedelta(minutes=minute, seconds=20)  # past the settle time
            seen += await evaluator.evaluate_once()
        await evaluator.close()
        return [(utc(t.at), t.fingerprint, t.state.value) for t in seen]

    live_transitions = asyncio.run(live_run())
    states = {(fingerprint, state) for _, fingerprint, state in live_transitions}
    burst_alert = f"ndxp_errors{{service={BURST_SERVICE}}}"
    assert {(burst_alert, "firing"), (burst_alert, "resolved")} <= states
    assert ("critical_incident{agency=48,category=ransomware}", "firing") in states
    assert (f"agency_silent{{agency={SILENT}}}", "firing") in states

    recording = tmp_path / "incident.ndjson.gz"
    recorded = cli(live, "record", "--out", str(recording))
    assert recorded.returncode == 0, recorded.stderr

    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(TEST_RULES), encoding="utf-8")
    copy_log = tmp_path / "replay-worker.log"
    # No clock setting: a namespace other than `live` evaluates in event time.
    copy_env = worker_env(
        copy,
        GOVPULSE_ALERTS__RULES_FILE=str(rules_file),
        GOVPULSE_ALERTS__INTERVAL_S="1",
        GOVPULSE_ALERTS__EVENT_SETTLE_S="120",
        GOVPULSE_STREAMS__ARCHIVE_RAW="false",
    )
    worker = start_worker(copy_env, copy_log)
    try:
        replayed = cli(
            copy, "replay", str(recording), "--namespace", copy.namespace, "--max",
            GOVPULSE_KAFKA__BATCH_EVENT_SPAN_MS="60000",
        )  # fmt: skip
        assert replayed.returncode == 0, replayed.stderr
        # The data reaches minute 49; settled two minutes before: evaluated up to minute 47.
        last = START + timedelta(minutes=47)

        def evaluated() -> bool:
            rows = query(copy, "SELECT as_of FROM alert_progress")
            return bool(rows) and rows[0][0] >= last

        wait_for(evaluated, 180, "event-time evaluation up to minute 47", copy_log)
        wait_for(
            lambda: ndxp_calls(copy) == expected_calls, 30, "the replayed aggregates", copy_log
        )
    finally:
        stop_worker(worker)
    assert query(copy, "SELECT as_of FROM alert_progress")[0][0] == last
    replay_transitions = [
        (utc(at), fingerprint, state)
        for at, fingerprint, state in query(
            copy, "SELECT at, fingerprint, state FROM alert_events ORDER BY at, id"
        )
    ]
    compared = [t for t in live_transitions if t[0] <= utc(last)]
    missing = sorted(set(compared) - set(replay_transitions))
    surplus = sorted(set(replay_transitions) - set(compared))
    assert (missing, surplus) == ([], []), (missing, surplus)
    assert sorted(replay_transitions) == sorted(compared)
    assert len(compared) >= 4

    # The backtest of the same rules over the stored live data finds the same transitions.
    tested = cli(
        live, "alerts", "backtest", "--namespace", live.namespace, "--rules", str(rules_file),
        "--from", (START + timedelta(minutes=1)).isoformat(), "--to", last.isoformat(), "--json",
    )  # fmt: skip
    assert tested.returncode == 0, tested.stderr
    result = json.loads(tested.stdout)
    assert result["evaluations"] == 47
    backtested = [
        (utc(datetime.fromisoformat(t["at"])), t["fingerprint"], t["state"])
        for t in result["transitions"]
    ]
    assert sorted(backtested) == sorted(compared)
    fired_at = next(t[0] for t in compared if t[1:] == (burst_alert, "firing"))
    resolved_at = next(t[0] for t in compared if t[1:] == (burst_alert, "resolved"))
    span = (datetime.fromisoformat(resolved_at) - datetime.fromisoformat(fired_at)).seconds
    assert span == 12 * 60  # firing at minute 28 (pending at 26, for 2m), resolved at 40
    # The summary, worked out from the live transitions: how often and how long each fired.
    spans: dict[str, list[float]] = {}
    fired_since: dict[str, datetime] = {}
    for at, fingerprint, state in sorted(compared):
        if state == "firing":
            fired_since[fingerprint] = datetime.fromisoformat(at)
        elif state == "resolved":
            began = fired_since.pop(fingerprint)
            spans.setdefault(fingerprint.split("{")[0], []).append(
                (datetime.fromisoformat(at) - began).total_seconds()
            )
    for fingerprint, began in fired_since.items():
        spans.setdefault(fingerprint.split("{")[0], []).append((last - began).total_seconds())
    summary = {s["rule"]: s for s in result["summary"]}
    for rule, durations in spans.items():
        assert summary[rule]["fired"] == len(durations), rule
        assert summary[rule]["firing_s"] == sum(durations), rule
        assert summary[rule]["longest_s"] == max(durations), rule
    assert summary["ndxp_errors"]["longest_s"] >= span

    # The packaged rules: the burst trips the NDXP error rule (for 5 minutes: from minute 31).
    packaged = cli(
        live, "alerts", "backtest", "--namespace", live.namespace,
        "--from", START.isoformat(), "--to", END.isoformat(), "--json",
    )  # fmt: skip
    assert packaged.returncode == 0, packaged.stderr
    document = json.loads(packaged.stdout)
    fired = {
        (t["rule"], t["at"]) for t in document["transitions"] if t["state"] == AlertState.FIRING
    }
    assert ("ndxp_error_rate_high", START + timedelta(minutes=31)) in {
        (rule, datetime.fromisoformat(at)) for rule, at in fired
    }
    assert {s["rule"] for s in document["summary"]} == {r["name"] for r in _packaged()}


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _packaged() -> list[dict[str, Any]]:
    from govpulse.alerts.rules import default_rules_path

    document: dict[str, Any] = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    return list(document["rules"])
