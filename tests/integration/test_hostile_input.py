"""Hostile input against a real worker, broker and database: nothing stops, blinds or is lost.

A worker takes a normal stream of every feed; then a hostile producer sends what issue 11 found
harmful (a poison-pill date, a watermark far in the future, a batch of 5,000 late events, records
of megabytes, an array of 500,000 zeros, coerced types, unknown references, conflicting
duplicates); then the normal stream goes on. Expectations are computed here from what was sent,
never with the code under test: per feed, events in = aggregated + late + dead letters +
duplicates, exactly; the later normal events arrive on time; every record the worker produced
fits the limit; SIGTERM stops it within 10 s; a restart comes up, stays up and changes nothing.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaProducer
from psycopg import sql

from connectors.faults import Outgoing
from connectors.simulation import SimulationConfig
from govpulse.settings import Settings
from govpulse.topics import FEEDS, feed
from tests.integration.test_streams import (
    START,
    TcpProxy,
    database_totals,
    expected_totals,
    totals_equal,
    unique_events,
)
from tests.kafka_reader import read_topic
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

OUTPUT_LIMIT = 60_000  # small, so that splitting and truncation are exercised
RECORD_LIMIT = 2_000_000
BUSY = tuple(name for name in FEEDS if name != "cyber.incidents")


def normal_wave(settings: Settings, start: datetime, minutes: int, seed: int) -> list[Outgoing]:
    config = SimulationConfig(seed=seed, scale=0.05, feeds=BUSY)
    sink, _ = produce(settings.kafka, settings.namespace, config, start,
                      start + timedelta(minutes=minutes))  # fmt: skip
    return sink.sent


class HostileProducer:
    """Sends raw bytes, counting the events each record stands for, per feed."""

    def __init__(self, settings: Settings) -> None:
        self.namespace = settings.namespace
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers, max_request_size=8_000_000
        )
        self.events: Counter[str] = Counter()
        self.dead: Counter[tuple[str, str]] = Counter()  # (feed, reason) -> events
        self.late: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()

    def send(self, feed_name: str, key: str, value: bytes, events: int = 1) -> None:
        self.producer.send(feed(feed_name).topic(self.namespace), key=key.encode(), value=value)
        self.events[feed_name] += events

    def expect_dead(self, feed_name: str, reason: str, events: int = 1) -> None:
        self.dead[(feed_name, reason)] += events

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


def first_valid(sent: list[Outgoing], feed_name: str) -> dict[str, Any]:
    return next(orjson.loads(o.value) for o in sent if o.feed == feed_name and o.valid)


def with_changes(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, "event_id": str(uuid.uuid4()), **changes}


def send_hostile_records(hostile: HostileProducer, wave: list[Outgoing]) -> None:
    ndxp = first_valid(wave, "ndxp.transactions")
    payment = first_valid(wave, "portal.payments")
    agency = ndxp["agency"]
    ndxp_feed = "ndxp.transactions"

    def one(event: dict[str, Any], feed_name: str = ndxp_feed, key: str = agency) -> None:
        hostile.send(feed_name, key, orjson.dumps(event))

    # 1. The poison pill and 2. the watermark push: plausible shapes, impossible times.
    one(with_changes(ndxp, occurred_at="9999-12-31T23:59:00-01:00"))
    one(with_changes(ndxp, occurred_at="2099-01-01T00:00:00+07:00"))
    hostile.expect_dead(ndxp_feed, "implausible_time", 2)
    # 3. Five thousand events, all older than the grace: the late channel, split under the limit.
    old = datetime.fromisoformat(ndxp["occurred_at"]) - timedelta(hours=3)
    late = [with_changes(ndxp, occurred_at=(old + timedelta(seconds=i)).isoformat())
            for i in range(5_000)]  # fmt: skip
    hostile.send(ndxp_feed, agency, orjson.dumps(late), events=len(late))
    hostile.late[ndxp_feed] += len(late)
    # 4. Huge and amplifying records: each is one dead letter, cut to the payload limit.
    hostile.send(ndxp_feed, agency, b"{" + b"x" * 1_200_000)
    hostile.expect_dead(ndxp_feed, "invalid_event")
    hostile.send(ndxp_feed, agency, b"[" + b",".join([b"0"] * 500_000) + b"]", events=500_000)
    hostile.expect_dead(ndxp_feed, "too_many_events", 500_000)
    hostile.send(ndxp_feed, agency, b"[" + b"1," * 2_500_000 + b"1]")
    hostile.expect_dead(ndxp_feed, "record_too_large")
    # 5. Coercion and unknown references.
    one(with_changes(payment, amount_vnd="100"), "portal.payments", payment["agency"])
    one(with_changes(ndxp, occurred_at=17))
    hostile.expect_dead("portal.payments", "invalid_event")
    hostile.expect_dead(ndxp_feed, "invalid_event")
    one(with_changes(ndxp, agency="ZZZZ"), key="ZZZZ")
    one(with_changes(ndxp, service="NO_SUCH_SERVICE"))
    one(with_changes(ndxp, provider="QQQQ"))
    hostile.expect_dead(ndxp_feed, "unknown_reference", 3)
    one(with_changes(ndxp, agency="01" if agency != "01" else "79"))
    hostile.expect_dead(ndxp_feed, "agency_not_key")
    # 6. Duplicates: the same bytes again count once; the same id with other content (another
    # minute) is a conflict.
    hostile.send(ndxp_feed, agency, orjson.dumps(ndxp))
    hostile.duplicates[ndxp_feed] += 1
    moved = datetime.fromisoformat(ndxp["occurred_at"]) + timedelta(minutes=7)
    one({**ndxp, "occurred_at": moved.isoformat()})
    hostile.expect_dead(ndxp_feed, "conflicting_duplicate")


def health_by_feed(settings: Settings) -> dict[str, tuple[int, ...]]:
    rows = query(
        settings,
        "SELECT feed, sum(events_in), sum(counted), sum(late), sum(invalid), sum(duplicates) "
        "FROM pipeline_health GROUP BY feed",
    )
    return {name: tuple(int(v) for v in values) for name, *values in rows}


def dead_letters(settings: Settings) -> list[tuple[str, dict[str, Any], int]]:
    out = []
    for spec in FEEDS.values():
        for _, value in read_topic(settings.kafka.bootstrap_servers,
                                   spec.dlq_topic(settings.namespace), timeout_s=5):  # fmt: skip
            out.append((spec.name, orjson.loads(value), len(value)))
    return out


def test_hostile_input_is_counted_and_never_stops_the_worker(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    env = worker_env(
        settings,
        GOVPULSE_STREAMS__MAX_OUTPUT_RECORD_BYTES=str(OUTPUT_LIMIT),
        GOVPULSE_STREAMS__MAX_RECORD_BYTES=str(RECORD_LIMIT),
        GOVPULSE_STREAMS__MAX_DEAD_LETTER_PAYLOAD_BYTES="4096",
    )
    log = tmp_path / "worker.log"
    first = normal_wave(settings, START, 20, seed=51)
    worker = start_worker(env, log)
    try:
        wait_for(totals_equal(settings, expected_totals(unique_events(first))), 120,
                 "the first normal wave", log)  # fmt: skip
        hostile = HostileProducer(settings)
        send_hostile_records(hostile, first)
        hostile.close()
        second_sent_at = time.monotonic()
        second = normal_wave(settings, START + timedelta(minutes=20), 20, seed=52)
        expected = expected_totals(unique_events(first + second))
        wait_for(totals_equal(settings, expected), 60, "the second wave after the hostile", log)
        # The other feeds' (and this feed's) normal events did not wait behind the hostile ones.
        assert time.monotonic() - second_sent_at < 60
        assert worker.poll() is None, "the worker stopped"

        produced: Counter[str] = Counter(o.feed for o in first + second)
        produced += hostile.events
        valid_unique = {name: len(events) for name, events in unique_events(first + second).items()}
        duplicates = Counter(o.feed for o in first + second if o.valid)
        for name, count in valid_unique.items():
            duplicates[name] -= count
        duplicates += hostile.duplicates
        malformed = Counter(o.feed for o in first + second if not o.valid)

        def health_accounts_for_everything() -> bool:
            health = health_by_feed(settings)
            ok = True
            for name in BUSY:
                events_in, counted, late, invalid, dups = health.get(name, (0,) * 5)
                dead = sum(n for (f, _), n in hostile.dead.items() if f == name) + malformed[name]
                want = (produced[name], valid_unique[name], hostile.late[name], dead,
                        duplicates[name])  # fmt: skip
                if (events_in, counted, late, invalid, dups) != want:
                    health_accounts_for_everything.__doc__ = f"{name}: {health.get(name)} != {want}"
                    ok = False
            return ok

        wait_for(health_accounts_for_everything, 30, "health that accounts for every event", log)
        # Invalid events by reason, as the dashboard and `govpulse top` show them.
        rejects = query(
            settings,
            "SELECT feed, reason, sum(events) FROM pipeline_rejects "
            "WHERE reason <> 'invalid_event' GROUP BY feed, reason",
        )
        want_rejects = {k: v for k, v in hostile.dead.items() if k[1] != "invalid_event"}
        assert {(f, r): int(n) for f, r, n in rejects} == want_rejects

        # Dead letters: one per refused record or element, each under the limit, reason and source.
        letters = dead_letters(settings)
        assert all(size <= OUTPUT_LIMIT for _, _, size in letters)
        by_reason = Counter((name, body["reason"]) for name, body, _ in letters if
                            body["reason"] != "invalid_event")  # fmt: skip
        assert by_reason == {k: 1 if k[1] == "too_many_events" else v
                             for k, v in want_rejects.items()}  # fmt: skip
        cut = [body for _, body, _ in letters if "payload_truncated" in body]
        assert {body["payload_bytes"] for body in cut} >= {1_200_001}
        assert all(len(body["payload_sha256"]) == 64 for body in cut)
        # The late batch: all 5,000 events, split into records under the limit.
        late_records = read_topic(settings.kafka.bootstrap_servers,
                                  feed("ndxp.transactions").late_topic(settings.namespace),
                                  timeout_s=5)  # fmt: skip
        assert all(len(value) <= OUTPUT_LIMIT for _, value in late_records)
        assert len(late_records) > 1
        assert sum(len(orjson.loads(v)) for _, v in late_records) == 5_000
        # The archive holds each counted event once, and only those.
        archived = dict(query(settings, "SELECT feed, count(*) FROM raw_events GROUP BY feed"))
        assert {name: int(n) for name, n in archived.items()} == {
            name: n for name, n in valid_unique.items() if n
        }

        before = (database_totals(settings), health_by_feed(settings))
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        assert time.monotonic() - started <= 10, "SIGTERM took more than 10 s"
        worker = start_worker(env, log)
        time.sleep(15)
        assert worker.poll() is None, "the restarted worker did not stay up"
        assert (database_totals(settings), health_by_feed(settings)) == before
    finally:
        stop_worker(worker)


def test_a_row_the_database_refuses_is_quarantined(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    # A constraint standing for any refusal after validation (an overflow, a new rule).
    with psycopg.connect(settings.db.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT refuse_one_service "
                    "CHECK (service <> 'population_identity')").format(
                sql.Identifier(settings.namespace, "ndxp_minute"))
        )  # fmt: skip
    wave = normal_wave(settings, START, 10, seed=53)
    events = unique_events(wave)["ndxp.transactions"]
    refused = sum(e["service"] == "population_identity" for e in events)
    assert 0 < refused < len(events)
    log = tmp_path / "worker.log"
    env = worker_env(settings)
    worker = start_worker(env, log)
    try:

        def everything_placed() -> bool:
            row = query(
                settings,
                "SELECT coalesce(sum(counted), 0), coalesce(sum(quarantined), 0) "
                "FROM pipeline_health WHERE feed = 'ndxp.transactions'",
            )[0]
            everything_placed.__doc__ = f"(counted, quarantined) {row}"
            return (int(row[0]), int(row[1])) == (len(events) - refused, refused)

        wait_for(everything_placed, 90, "the refused rows quarantined, the rest counted", log)
        calls = query(settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0]
        assert calls == len(events) - refused
        quarantined = query(settings, "SELECT sum(events), min(reason) FROM quarantine")[0]
        assert quarantined[0] == refused and "refuse_one_service" in quarantined[1]
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        worker = start_worker(env, log)
        time.sleep(10)
        assert worker.poll() is None
        assert query(settings, "SELECT sum(events) FROM quarantine")[0][0] == refused
    finally:
        stop_worker(worker)


def test_sigterm_during_a_database_outage_stops_within_ten_seconds(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    proxy = TcpProxy(settings.db.host, settings.db.port)
    log = tmp_path / "worker.log"
    env = worker_env(settings, GOVPULSE_DB__HOST="127.0.0.1", GOVPULSE_DB__PORT=str(proxy.port))
    worker = start_worker(env, log)
    try:
        first = normal_wave(settings, START, 10, seed=54)
        wait_for(totals_equal(settings, expected_totals(unique_events(first))), 120,
                 "the first wave", log)  # fmt: skip
        proxy.cut()
        second = normal_wave(settings, START + timedelta(minutes=10), 10, seed=55)
        wait_for(lambda: "database unavailable since" in log.read_text(errors="replace"), 30,
                 "the outage in the log", log)  # fmt: skip
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        assert time.monotonic() - started <= 10, "SIGTERM during an outage took more than 10 s"
        proxy.restore()
        worker = start_worker(env, log)
        expected = expected_totals(unique_events(first + second))
        wait_for(totals_equal(settings, expected), 120, "everything after the restart", log)
    finally:
        stop_worker(worker)
        proxy.close()


def test_replaying_the_archive_of_a_hostile_run_reproduces_it(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """The archive holds exactly the counted events: replayed into a fresh namespace, it gives
    the live aggregates row for row, whatever the hostile producer sent."""
    from govpulse.db.migrate import drop_namespace, migrate
    from govpulse.kafka_admin import ensure_topics
    from govpulse.topics import select_feeds
    from tests.integration.test_replay import all_rows, cli

    live = stream_settings
    copy = live.model_copy(update={"namespace": f"r{uuid.uuid4().hex[:12]}"})
    migrate(copy)
    try:
        first = normal_wave(live, START, 10, seed=56)
        hostile = HostileProducer(live)
        send_hostile_records(hostile, first)
        hostile.close()
        second = normal_wave(live, START + timedelta(minutes=10), 10, seed=57)
        log = tmp_path / "live.log"
        worker = start_worker(worker_env(live), log)
        try:
            expected = expected_totals(unique_events(first + second))
            wait_for(totals_equal(live, expected), 120, "the live run", log)
        finally:
            stop_worker(worker)
        live_rows = all_rows(live)
        ensure_topics(copy.kafka, select_feeds(None), copy.namespace)
        replayed = cli(copy, "replay", f"archive:{live.namespace}", "--namespace",
                       copy.namespace, "--max")  # fmt: skip
        assert replayed.returncode == 0, replayed.stderr
        copy_log = tmp_path / "copy.log"
        worker = start_worker(worker_env(copy), copy_log)
        try:
            wait_for(lambda: all_rows(copy) == live_rows, 120, "the archive's aggregates",
                     copy_log)  # fmt: skip
        finally:
            stop_worker(worker)
    finally:
        drop_namespace(copy, copy.namespace, force=True)
