"""Drills against real services: a drill command reaches a connector runner through the control
topic, and every packaged alert rule is fired by its drill (simulated traffic with the drills
through a real worker into PostgreSQL, then `govpulse alerts backtest` with the packaged rules)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from connectors.calibration import local_day
from connectors.clock import ManualClock
from connectors.control import ControlListener
from connectors.drills import Drill, DrillBook, new_drill
from connectors.faults import FaultConfig
from connectors.producer import BatchingProducer
from connectors.runner import RunOptions, run
from connectors.simulation import SimulationConfig, simulate
from govpulse.alerts.rules import load_rules
from govpulse.kafka_admin import ensure_topics
from govpulse.settings import Settings
from govpulse.topics import select_feeds
from tests.pipeline_helpers import (
    RecordingSink,
    query,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

START = local_day(2024, 10, 1).replace(hour=9)
END = START + timedelta(minutes=90)


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", *args]
    return subprocess.run(
        command, env=worker_env(settings), capture_output=True, text=True, timeout=300
    )


def test_a_drill_command_reaches_the_runner_through_the_control_topic(
    stream_settings: Settings,
) -> None:
    settings = stream_settings
    book = DrillBook()
    listener = ControlListener(settings.kafka, settings.namespace, book)
    listener.start()
    try:
        sent = cli(
            settings, "connectors", "drill", "silent_province", "--agency", "79",
            "--duration", "15m", "--namespace", settings.namespace,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "silent_province (agency 79) until" in sent.stdout
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not book.active(datetime.now().astimezone()):
            time.sleep(0.2)
        [drill] = book.active(datetime.now().astimezone())
        assert (drill.scenario, drill.agency) == ("silent_province", "79")
        assert drill.ends_at - drill.starts_at == timedelta(minutes=15)
        refused = cli(
            settings, "connectors", "drill", "silent_province", "--namespace", settings.namespace
        )
        assert refused.returncode == 2 and "drill silent_province needs --agency" in refused.stderr
    finally:
        listener.stop()
    assert listener.invalid == 0


def busiest(feed: str, field: str, scale: float) -> str:
    config = SimulationConfig(seed=9, scale=scale, feeds=(feed,))
    counts = Counter(
        getattr(event, field) for _, event in simulate(config, START, START + timedelta(minutes=10))
    )
    return str(counts.most_common(1)[0][0])


def test_every_packaged_rule_is_fired_by_its_drill(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    provider = busiest("ndxp.transactions", "provider", 0.05)
    service = busiest("ndxp.transactions", "service", 0.05)

    def at(minute: int) -> datetime:
        return START + timedelta(minutes=minute)

    def drill(
        name: str,
        start: int,
        end: int,
        agency: str | None = None,
        service: str | None = None,
        provider: str | None = None,
    ) -> Drill:
        return new_drill(
            name, at(start), timedelta(minutes=end - start), agency=agency, service=service,
            provider=provider,
        )  # fmt: skip

    book = DrillBook(seed=9)
    for planned in (
        drill("ndxp_provider_outage", 20, 40, provider=provider),
        drill("latency_spike", 20, 40, service=service),
        drill("axis_delivery_failures", 20, 40),
        drill("overdue_completions", 20, 50, agency="01"),
        drill("incident_storm", 20, 40),
        drill("silent_province", 50, 90, agency="79"),
        drill("payment_gateway_failure", 20, 40),
    ):
        book.add(planned)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(settings, GOVPULSE_ALERTS__ENABLED="false"), log)
    try:
        ensure_topics(settings.kafka, select_feeds(None), settings.namespace)
        producer = BatchingProducer(settings.kafka, settings.namespace)
        sink = RecordingSink(producer)
        try:
            options = RunOptions(start=START, end=END, accelerate=0)
            for feeds, scale in (
                (("ndxp.transactions",), 0.05),
                (("portal.dossiers", "portal.payments", "vdxp.documents", "cyber.incidents"), 1.0),
            ):
                config = SimulationConfig(seed=9, scale=scale, feeds=feeds)
                run(sink, config, FaultConfig(), options, ManualClock(START), drills=book)
        finally:
            producer.close()
        calls = len([o for o in sink.sent if o.feed == "ndxp.transactions"])
        wait_for(
            lambda: query(settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0]
            == calls,
            120, "the drilled traffic in the database", log,
        )  # fmt: skip
        documents = len([o for o in sink.sent if o.feed == "vdxp.documents"])
        wait_for(
            lambda: query(settings, "SELECT coalesce(sum(documents), 0) FROM document_minute")[0][0]
            == documents,
            60, "the documents", log,
        )  # fmt: skip
    finally:
        stop_worker(worker)
    assert book.stats.unfit == Counter()
    assert book.stats.added["overdue_completions"] >= 90  # 3 a minute for 30 minutes
    assert set(book.stats.rewritten) >= {
        "ndxp_provider_outage", "latency_spike", "axis_delivery_failures",
        "payment_gateway_failure",
    }  # fmt: skip
    failed_payments = query(
        settings, "SELECT coalesce(sum(payments), 0) FROM payment_minute WHERE status = 'failed' "
        "AND bucket >= %s AND bucket < %s", at(20), at(40),
    )[0][0]  # fmt: skip
    assert failed_payments > 0

    result = cli(
        settings, "alerts", "backtest", "--namespace", settings.namespace,
        "--from", at(1).isoformat(), "--to", END.isoformat(), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    fired: dict[str, list[dict[str, str]]] = {}
    for t in document["transitions"]:
        if t["state"] == "firing":
            fired.setdefault(t["rule"], []).append(t["labels"])
    assert set(fired) >= {rule.name for rule in load_rules()}, sorted(fired)
    assert {"agency": "79"} in fired["agency_silent"]
    assert {"agency": "01"} in fired["province_on_time_rate_low"]
    assert {"service": service} in fired["ndxp_p95_latency_high"]
    outage_services = {
        orjson.loads(o.value)["service"]
        for o in sink.sent
        if o.feed == "ndxp.transactions" and orjson.loads(o.value)["provider"] == provider
    }
    assert {labels["service"] for labels in fired["ndxp_error_rate_high"]} & outage_services
