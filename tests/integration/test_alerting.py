"""Alerting against real services: injected faults fire the expected alerts and resolve after the
fault ends (real broker, worker and PostgreSQL; the evaluator in-process with a test clock), the
worker's own leader timer records, publishes and notifies, and webhooks survive a failing
receiver."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import yaml
from aiohttp import web

from connectors.calibration import local_day
from connectors.faults import FaultConfig, Outgoing
from connectors.producer import BatchingProducer
from connectors.simulation import SimulationConfig
from govpulse.alerts.rules import parse_rules
from govpulse.events import IncidentEvent, NdxpTransaction
from govpulse.kafka_admin import ensure_topics
from govpulse.recording import event_time_ms
from govpulse.settings import AlertSettings, Settings
from govpulse.topics import select_feeds
from streams.alerting.evaluator import AlertEvaluator, alerts_topic
from streams.alerting.state import AlertState, Transition
from streams.alerting.webhooks import Receiver, WebhookNotifier
from tests.kafka_reader import read_topic
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

START = local_day(2024, 10, 1).replace(hour=9)
BURST_SERVICE = "TEST_SVC"
SILENT = "01"

TEST_RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "ndxp_errors",
            "measure": "ndxp_error_rate",
            "params": {"window_minutes": 5, "min_calls": 20},
            "group_by": ["service"],
            "threshold": 0.05,
            "recovery_threshold": 0.04,
            "for": "2m",
            "severity": "critical",
            "summary": "{service}: {value:.0%} errors",
        },
        {
            "name": "critical_incident",
            "measure": "incidents_detected",
            "params": {"window_minutes": 10},
            "group_by": ["agency", "category"],
            "threshold": 0,
            "severity": "critical",
            "summary": "critical {category} at {agency}",
        },
        {
            "name": "agency_silent",
            "measure": "agency_silence_minutes",
            "params": {"lookback_minutes": 60, "min_events": 100},
            "group_by": ["agency"],
            "op": ">=",
            "threshold": 15,
            "recovery_threshold": 2,
            "summary": "{agency} silent for {value:.0f} min",
        },
    ]
}


def ndxp(at: datetime, result: str) -> Outgoing:
    event = NdxpTransaction(
        event_id=uuid.uuid4(), occurred_at=at, agency="79", service=BURST_SERVICE,
        provider="BCA", latency_ms=120, result=result, bytes=900,
    )  # fmt: skip
    return Outgoing(
        "ndxp.transactions", "79", event_time_ms(event), event.model_dump_json().encode()
    )


def critical_incident(at: datetime, agency: str = "48") -> Outgoing:
    event = IncidentEvent(
        event_id=uuid.uuid4(), occurred_at=at, agency=agency,
        incident_id=f"T-{uuid.uuid4().hex[:8]}", stage="detected", category="ransomware",
        severity="critical",
        target_system="SYS-TEST", protection_level=3, detected_at=at,
    )  # fmt: skip
    return Outgoing(
        "cyber.incidents", agency, event_time_ms(event), event.model_dump_json().encode()
    )


def send(settings: Settings, outgoing: list[Outgoing]) -> None:
    ensure_topics(settings.kafka, select_feeds(None), settings.namespace)
    producer = BatchingProducer(settings.kafka, settings.namespace)
    try:
        for out in sorted(outgoing, key=lambda o: o.timestamp_ms):
            producer.send(out)
    finally:
        producer.close()


def burst(start: datetime, minutes: int, errors_per_minute: int) -> list[Outgoing]:
    out = []
    for minute in range(minutes):
        for i in range(50):
            at = start + timedelta(minutes=minute, seconds=i)
            out.append(ndxp(at, "error" if i < errors_per_minute else "ok"))
    return out


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def firing(book_transitions: list[Transition]) -> set[str]:
    return {t.fingerprint for t in book_transitions if t.state is AlertState.FIRING}


def silent_truth(sent: list[Outgoing], now: datetime, lookback: int, minimum: int) -> set[str]:
    """Agencies that, by the produced events, usually emit and are quiet for 15 minutes or more."""
    since = now - timedelta(minutes=lookback)
    counts: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    for out in sent:
        at = datetime.fromtimestamp(out.timestamp_ms / 1000, UTC)
        if since < at.replace(second=0, microsecond=0) <= now:
            counts[out.key] += 1
            last[out.key] = max(last.get(out.key, at), at)
    quiet = set()
    for agency, n in counts.items():
        end_of_last_minute = last[agency].replace(second=0, microsecond=0) + timedelta(minutes=1)
        if n >= minimum and now - end_of_last_minute >= timedelta(minutes=15):
            quiet.add(agency)
    return quiet


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_injected_faults_fire_the_expected_alerts_and_resolve(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(settings, GOVPULSE_ALERTS__ENABLED="false"), log)
    feeds = ("ndxp.transactions", "portal.dossiers")
    try:
        # 40 minutes of traffic; province 01 falls silent after 20; an error burst on one
        # service from minute 30 to 35; a critical incident at minute 35.
        faults = FaultConfig(silent_agencies=(SILENT,), silent_from=START + timedelta(minutes=20))
        config = SimulationConfig(seed=5, scale=0.05, feeds=feeds)
        first, _ = produce(
            settings.kafka, settings.namespace, config, START, START + timedelta(minutes=40), faults
        )
        extra = burst(START + timedelta(minutes=30), 6, errors_per_minute=25)
        extra += burst(START + timedelta(minutes=36), 4, errors_per_minute=0)
        extra.append(critical_incident(START + timedelta(minutes=35)))
        send(settings, extra)
        sent = first.sent + extra
        wait_for(lambda: ndxp_calls(settings) == count(sent, "ndxp.transactions"), 60, "ndxp", log)

        clock = ManualClock(START + timedelta(minutes=36, seconds=30))
        rules = parse_rules(TEST_RULES)
        evaluator = AlertEvaluator(settings, rules, clock=clock)
        seen: list[Transition] = []

        async def evaluate_until(end: datetime) -> None:
            while clock.now <= end:
                seen.extend(await evaluator.evaluate_once())
                clock.now += timedelta(seconds=30)

        asyncio.run(evaluate_until(START + timedelta(minutes=39, seconds=30)))
        fired = firing(seen)
        assert f"ndxp_errors{{service={BURST_SERVICE}}}" in fired
        assert "critical_incident{agency=48,category=ransomware}" in fired
        expected_silent = silent_truth(first.sent, clock.now, 60, 100)
        assert SILENT in expected_silent
        silent_fired = {t.labels["agency"] for t in seen if t.rule.name == "agency_silent"}
        assert silent_fired == expected_silent
        error_alert = next(
            t
            for t in seen
            if t.state is AlertState.FIRING and t.fingerprint.startswith("ndxp_errors{service=TEST")
        )
        pending = next(
            t
            for t in seen
            if t.state is AlertState.PENDING and t.fingerprint == error_alert.fingerprint
        )
        assert error_alert.at - pending.at >= timedelta(minutes=2)  # `for` held it back

        # The faults end: province 01 reports again, the burst is over, time passes.
        config = SimulationConfig(seed=6, scale=0.05, feeds=feeds)
        second, _ = produce(
            settings.kafka,
            settings.namespace,
            config,
            START + timedelta(minutes=40),
            START + timedelta(minutes=52),
        )
        sent += second.sent
        wait_for(lambda: ndxp_calls(settings) == count(sent, "ndxp.transactions"), 60, "ndxp", log)
        seen.clear()
        asyncio.run(evaluate_until(START + timedelta(minutes=52)))
        resolved = {t.fingerprint for t in seen if t.state is AlertState.RESOLVED}
        assert fired <= resolved
        rows = query(
            settings,
            "SELECT fingerprint, state, notified FROM alert_events "
            "WHERE fingerprint = %s ORDER BY id",
            f"ndxp_errors{{service={BURST_SERVICE}}}",
        )
        assert [r[1] for r in rows] == ["pending", "firing", "resolved"]
        assert [r[2] for r in rows] == [False, True, True]
        asyncio.run(evaluator.close())
    finally:
        stop_worker(worker)


def count(sent: list[Outgoing], feed: str) -> int:
    return len({orjson.loads(o.value)["event_id"] for o in sent if o.feed == feed and o.valid})


def ndxp_calls(settings: Settings) -> int:
    return int(query(settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0])


class Receiver200(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    Receiver200.bodies = []
    server = HTTPServer(("127.0.0.1", 0), Receiver200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver200.bodies
    finally:
        server.shutdown()


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_the_worker_evaluates_on_its_leader_timer_records_publishes_and_notifies(
    stream_settings: Settings,
    tmp_path: Path,
    http_receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    settings = stream_settings
    url, bodies = http_receiver
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"rules": [TEST_RULES["rules"][1]]}), encoding="utf-8")
    log = tmp_path / "worker.log"
    env = worker_env(
        settings,
        GOVPULSE_ALERTS__RULES_FILE=str(rules_file),
        GOVPULSE_ALERTS__INTERVAL_S="1",
        GOVPULSE_ALERTS__WEBHOOK_URLS=json.dumps([url]),
        GOVPULSE_STREAMS__ARCHIVE_RAW="false",
    )
    worker = start_worker(env, log)
    try:
        send(settings, [critical_incident(datetime.now(UTC))])

        def fired() -> bool:
            rows = query(settings, "SELECT state FROM alert_events")
            return ("firing",) in rows

        wait_for(fired, 60, "the worker's alert", log)
        wait_for(lambda: len(bodies) >= 1, 20, "the webhook", log)
        assert bodies[0]["status"] == "firing" and bodies[0]["rule"] == "critical_incident"
        assert bodies[0]["labels"]["agency"] == "48"
        records = read_topic(
            settings.kafka.bootstrap_servers, alerts_topic(settings.namespace), 1, 20
        )
        assert orjson.loads(records[0][1])["status"] == "firing"
        assert records[0][0] == b"critical_incident{agency=48,category=ransomware}"
    finally:
        stop_worker(worker)


def test_webhooks_retry_with_backoff_until_a_failing_receiver_recovers() -> None:
    rules = parse_rules(TEST_RULES)
    from streams.alerting.state import RuleBook

    now = datetime.now(UTC)
    transitions = RuleBook(rules[1]).evaluate({("48", "ransomware"): 1.0}, now)
    assert len(transitions) == 1

    async def scenario() -> tuple[list[Any], list[Any], WebhookNotifier]:
        received: list[Any] = []
        chat: list[Any] = []
        failures = {"left": 3}

        async def flaky(request: web.Request) -> web.Response:
            if failures["left"] > 0:
                failures["left"] -= 1
                return web.Response(status=503)
            received.append(await request.json())
            return web.Response(status=204)

        async def chat_hook(request: web.Request) -> web.Response:
            chat.append(await request.json())
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/flaky", flaky)
        app.router.add_post("/chat", chat_hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        settings = AlertSettings(webhook_retries=5, webhook_backoff_s=0.05, webhook_timeout_s=2)
        notifier = WebhookNotifier(
            settings,
            "live",
            [
                Receiver(f"http://127.0.0.1:{port}/flaky"),
                Receiver(f"http://127.0.0.1:{port}/chat", "text"),
                Receiver("http://127.0.0.1:9/closed"),  # nothing listens: given up, counted
            ],
        )
        await notifier.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        notifier.notify(transitions[0])
        assert loop.time() - started < 0.05  # notify never waits for a receiver
        assert await notifier.drain(10)
        await notifier.stop()
        await runner.cleanup()
        return received, chat, notifier

    received, chat, notifier = asyncio.run(scenario())
    assert len(received) == 1 and received[0]["status"] == "firing"
    assert received[0]["labels"] == {
        "alertname": "critical_incident",
        "severity": "critical",
        "agency": "48",
        "category": "ransomware",
    }
    assert chat == [{"text": "[FIRING] [CRITICAL] critical ransomware at 48 (live)"}]
    stats = notifier.stats
    flaky_url = next(u for u in stats.delivered if u.endswith("/flaky"))
    assert stats.failed_attempts[flaky_url] == 3 and stats.delivered[flaky_url] == 1
    closed = "http://127.0.0.1:9/closed"
    assert stats.given_up[closed] == 1 and stats.failed_attempts[closed] == 6
