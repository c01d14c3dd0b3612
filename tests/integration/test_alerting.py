"""Alerting against real services: injected faults fire the expected alerts and resolve after the
fault ends (real broker, worker and PostgreSQL; the evaluator in-process with a test clock), the
worker's own leader timer records, publishes and notifies, and webhooks survive a failing
receiver."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
import time
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
from govpulse.alerts.store import list_alerts
from govpulse.events import IncidentEvent, NdxpTransaction
from govpulse.kafka_admin import ensure_topics
from govpulse.recording import event_time_ms
from govpulse.reference.systems import state_systems
from govpulse.settings import AlertSettings, Settings
from govpulse.topics import select_feeds
from streams.alerting.evaluator import AlertEvaluator, alerts_topic
from streams.alerting.state import AlertState, Transition
from tests.kafka_reader import read_topic
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

START = local_day(2024, 10, 1).replace(hour=9)
# A real service (the workers check the reference data) that the simulation rarely calls.
BURST_SERVICE, BURST_PROVIDER = "prices", "BTC"
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
        provider=BURST_PROVIDER, latency_ms=120, result=result, bytes=900,
    )  # fmt: skip
    return Outgoing(
        "ndxp.transactions", "79", event_time_ms(event), event.model_dump_json().encode()
    )


def critical_incident(at: datetime, agency: str = "48") -> Outgoing:
    system = next(s for s in state_systems() if s.agency == agency)  # a real one of the agency
    event = IncidentEvent(
        event_id=uuid.uuid4(), occurred_at=at, agency=agency,
        incident_id=f"T-{uuid.uuid4().hex[:8]}", stage="detected", category="ransomware",
        severity="critical", target_system=system.code,
        protection_level=system.protection_level, detected_at=at,
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
    """Agencies that, by the produced events, usually emit and are quiet for 15 minutes or more
    when evaluated at the minute boundary `now` (the complete minutes before it count)."""
    since = now - timedelta(minutes=lookback)
    counts: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    for out in sent:
        at = datetime.fromtimestamp(out.timestamp_ms / 1000, UTC)
        if since <= at.replace(second=0, microsecond=0) < now:
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
        burst_fingerprint = f"ndxp_errors{{service={BURST_SERVICE}}}"
        assert burst_fingerprint in fired
        assert "critical_incident{agency=48,category=ransomware}" in fired
        # Evaluations at 36:30 ... 39:30 are at the minute boundaries 36:00 ... 39:00.
        assert {t.at for t in seen} <= {START + timedelta(minutes=m) for m in range(36, 40)}
        expected_silent = silent_truth(first.sent, START + timedelta(minutes=39), 60, 100)
        assert SILENT in expected_silent
        silent_fired = {t.labels["agency"] for t in seen if t.rule.name == "agency_silent"}
        assert silent_fired == expected_silent
        error_alert = next(
            t
            for t in seen
            if t.state is AlertState.FIRING
            and t.fingerprint == f"ndxp_errors{{service={BURST_SERVICE}}}"
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
            "SELECT fingerprint, state, notify, notified FROM alert_events "
            "WHERE fingerprint = %s ORDER BY id",
            f"ndxp_errors{{service={BURST_SERVICE}}}",
        )
        assert [r[1] for r in rows] == ["pending", "firing", "resolved"]
        assert [r[2] for r in rows] == [False, True, True]  # owed a notification
        assert [r[3] for r in rows] == [False, False, False]  # no receiver: none delivered
        asyncio.run(evaluator.close())
    finally:
        stop_worker(worker)


def count(sent: list[Outgoing], feed: str) -> int:
    return len({orjson.loads(o.value)["event_id"] for o in sent if o.feed == feed and o.valid})


def ndxp_calls(settings: Settings) -> int:
    return int(query(settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0])


class Receiver200(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []
    keys: ClassVar[list[str]] = []  # the Idempotency-Key header of each request

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).keys.append(self.headers.get("Idempotency-Key", ""))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    Receiver200.bodies = []
    Receiver200.keys = []
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
        GOVPULSE_ALERTS__CLOCK="wall",  # live traffic in a test namespace
        GOVPULSE_ALERTS__WEBHOOK_URLS=json.dumps([url]),
        GOVPULSE_STREAMS__ARCHIVE_RAW="false",
    )
    worker = start_worker(env, log)
    try:
        send(settings, [critical_incident(datetime.now(UTC))])

        def fired() -> bool:
            rows = query(settings, "SELECT state FROM alert_events")
            return ("firing",) in rows

        # Evaluated at the next minute boundary, once the incident's minute is complete.
        wait_for(fired, 150, "the worker's alert", log)
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


def _outbox(settings: Settings) -> list[tuple[Any, ...]]:
    return query(
        settings,
        "SELECT state, receiver, status, attempts, last_error, idempotency_key "
        "FROM alert_notifications ORDER BY id",
    )


@pytest.mark.postgres
def test_the_outbox_is_retried_until_2xx_and_expires_what_never_gets_through(
    stream_settings: Settings,
) -> None:
    rules = parse_rules(TEST_RULES)
    start = datetime.now(UTC)
    received: list[tuple[str, Any]] = []
    chat: list[Any] = []

    port = 0

    async def scenario() -> AlertEvaluator:
        nonlocal port
        failures = {"left": 3}

        async def flaky(request: web.Request) -> web.Response:
            if failures["left"] > 0:
                failures["left"] -= 1
                return web.Response(status=503)
            received.append((request.headers["Idempotency-Key"], await request.json()))
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
        settings = stream_settings.model_copy(
            update={
                "alerts": AlertSettings(
                    webhook_urls=(f"http://127.0.0.1:{port}/flaky", "http://127.0.0.1:9/closed"),
                    chat_webhook_urls=(f"http://127.0.0.1:{port}/chat",),
                    webhook_backoff_s=0.05, webhook_backoff_max_s=0.2, webhook_timeout_s=2,
                    notification_expiry_s=3, delivery_poll_s=0.05,
                )
            }
        )  # fmt: skip
        # A critical incident in the minute table: the evaluator fires for real.
        query(
            settings,
            "INSERT INTO incident_minute (bucket, agency, category, severity, stage, "
            "protection_level, events) VALUES (date_trunc('minute', %s::timestamptz), '48', "
            "'ransomware', 'critical', 'detected', 3, 1) RETURNING 1",
            start - timedelta(minutes=2),
        )
        evaluator = AlertEvaluator(settings, rules[1:2], clock=lambda: start)
        loop = asyncio.get_running_loop()
        began = loop.time()
        transitions = await evaluator.evaluate_once()
        assert loop.time() - began < 1  # evaluation never waits for a receiver
        assert [t.state for t in transitions] == [AlertState.FIRING]
        deadline = loop.time() + 15
        while loop.time() < deadline and not (received and chat):
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.5)  # past the expiry: the closed receiver's row expires
        await evaluator.close()
        await runner.cleanup()
        return evaluator

    evaluator = asyncio.run(scenario())
    assert len(received) == 1 and received[0][1]["status"] == "firing"
    key, body = received[0]
    assert body["idempotency_key"] == key and len(key) == 32
    assert body["labels"] == {
        "alertname": "critical_incident", "severity": "critical",
        "agency": "48", "category": "ransomware",
    }  # fmt: skip
    namespace = stream_settings.namespace
    assert chat == [{"text": f"[FIRING] [CRITICAL] critical ransomware at 48 ({namespace})"}]
    rows = _outbox(stream_settings)  # in receiver order: flaky, closed, chat
    assert [(r[2], r[3]) for r in rows[::2]] == [("delivered", 4), ("delivered", 1)]
    assert rows[1][2] == "expired" and rows[1][3] >= 2 and "Connect" in rows[1][4]
    assert {r[5] for r in rows} == {key}  # one key per transition, whatever the receiver
    assert all(r[1].endswith(":9/…") or r[1].endswith(f":{port}/…") for r in rows)
    stats = evaluator.delivery.stats
    assert sum(stats.delivered.values()) == 2 and sum(stats.expired.values()) == 1
    # One receiver never acknowledged it: the transition is not `notified`.
    assert query(stream_settings, "SELECT state, notify, notified FROM alert_events") == [
        ("firing", True, False)
    ]
    _, history = list_alerts(stream_settings, timedelta(hours=1))
    assert history[0].delivery.describe().startswith("delivered 2/3, 1 expired")


RECEIVER_DOWN_S = 90


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_firing_and_resolved_arrive_exactly_once_after_a_receiver_outage_and_a_sigkill(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """The receiver is down for 90 s while the worker tries; the worker is SIGKILLed after the
    alert fires; its successor takes the alert over, resolves it, and once the receiver is up
    both notifications arrive, exactly once each."""
    settings = stream_settings
    with socket.socket() as probe:  # a port nothing listens on until the receiver starts
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The incident leaves the 2-minute window soon after the worker records it: it resolves.
    rule = dict(TEST_RULES["rules"][1], params={"window_minutes": 2})
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"rules": [rule]}), encoding="utf-8")
    log = tmp_path / "worker.log"
    env = worker_env(
        settings,
        GOVPULSE_ALERTS__RULES_FILE=str(rules_file),
        GOVPULSE_ALERTS__INTERVAL_S="1",
        GOVPULSE_ALERTS__CLOCK="wall",  # live traffic in a test namespace
        GOVPULSE_ALERTS__WEBHOOK_URLS=json.dumps([f"http://127.0.0.1:{port}/hook"]),
        GOVPULSE_ALERTS__WEBHOOK_BACKOFF_S="1",
        GOVPULSE_ALERTS__WEBHOOK_BACKOFF_MAX_S="4",
        GOVPULSE_ALERTS__DELIVERY_POLL_S="0.5",
        GOVPULSE_STREAMS__ARCHIVE_RAW="false",
    )
    down_since = time.monotonic()
    worker = start_worker(env, log)
    server: HTTPServer | None = None
    try:
        send(settings, [critical_incident(datetime.now(UTC))])

        def tried(state: str) -> bool:
            return any(r[0] == state and r[3] >= 1 and r[4] for r in _outbox(settings))

        wait_for(lambda: tried("firing"), 180, "a failed attempt to notify the firing", log)
        time.sleep(3)
        # Recorded firing, owed, not delivered: `notified` stays false while the receiver is down.
        assert query(settings, "SELECT state, notify, notified FROM alert_events") == [
            ("firing", True, False)
        ]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = start_worker(env, log)

        def owed(state: str) -> bool:
            return any(r[0] == state and r[2] == "pending" for r in _outbox(settings))

        # The resolution waits behind its firing (per receiver and alert, in order).
        wait_for(lambda: owed("resolved"), 240, "the successor's resolution, owed", log)
        time.sleep(max(0.0, RECEIVER_DOWN_S - (time.monotonic() - down_since)))
        assert time.monotonic() - down_since >= RECEIVER_DOWN_S
        attempts = {r[0]: r[3] for r in _outbox(settings)}
        assert attempts["firing"] >= 10 and attempts["resolved"] == 0, attempts

        Receiver200.bodies, Receiver200.keys = [], []
        server = HTTPServer(("127.0.0.1", port), Receiver200)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        wait_for(lambda: len(Receiver200.bodies) >= 2, 30, "both notifications", log)
        time.sleep(5)  # room for a repeat, which must not come
        bodies, keys = Receiver200.bodies, Receiver200.keys
        assert [b["status"] for b in bodies] == ["firing", "resolved"]
        assert keys == [b["idempotency_key"] for b in bodies] and len(set(keys)) == 2
        assert {b["fingerprint"] for b in bodies} == {
            "critical_incident{agency=48,category=ransomware}"
        }
        assert query(settings, "SELECT state, notify, notified FROM alert_events ORDER BY id") == [
            ("firing", True, True),
            ("resolved", True, True),
        ]
        assert [r[2] for r in _outbox(settings)] == ["delivered", "delivered"]
        _, history = list_alerts(settings, timedelta(hours=1))
        assert [h.delivery.describe() for h in history] == ["delivered 1/1"] * 2
    finally:
        stop_worker(worker)
        if server is not None:
            server.shutdown()
