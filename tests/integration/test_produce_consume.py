"""Against a real Kafka-protocol broker: every feed the connectors produce reads back exactly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from typing import get_args

import aiokafka
import pytest
from kafka import KafkaAdminClient

from connectors.calibration import local_day
from connectors.faults import FaultConfig
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import decode
from govpulse.kafka_admin import ensure_topics, planned_topics
from govpulse.settings import KafkaSettings
from govpulse.topics import FEEDS, feed, select_feeds
from tests.kafka_reader import read_topic
from tests.pipeline_helpers import produce

pytestmark = pytest.mark.kafka

START = local_day(2024, 10, 1).replace(hour=8)
END = START + timedelta(hours=6)
# Scale 1.0 for the rare feeds would take long; incidents get a month at scale 1.0 instead.
CONFIG = SimulationConfig(seed=21, scale=0.01)


def test_topics_with_dlq_and_late_channels_are_created_once(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    created, present = ensure_topics(kafka_settings, select_feeds(None), namespace)
    assert len(created) == 3 * len(FEEDS) and present == []
    created, present = ensure_topics(kafka_settings, select_feeds(None), namespace)
    assert created == [] and len(present) == 3 * len(FEEDS)
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    try:
        names = set(admin.list_topics())
        for spec in FEEDS.values():
            assert {
                spec.topic(namespace),
                spec.dlq_topic(namespace),
                spec.late_topic(namespace),
            } <= names
        described = {
            t["name"]: len(t["partitions"])
            for t in admin.describe_topics(
                [p.name for p in planned_topics(select_feeds(None), namespace)]
            )
        }
        assert (
            described[feed("ndxp.transactions").topic(namespace)]
            == feed("ndxp.transactions").partitions
        )
    finally:
        admin.close()


def test_every_feed_reads_back_exactly_as_produced(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    expected = defaultdict(list)
    for feed_name, event in simulate(CONFIG, START, END):
        expected[feed_name].append(event)
    incidents_config = SimulationConfig(seed=21, scale=1.0, feeds=("cyber.incidents",))
    month = (local_day(2024, 10, 1), local_day(2024, 11, 1))
    expected["cyber.incidents"] = [e for _, e in simulate(incidents_config, *month)]

    busy, _ = produce(kafka_settings, namespace, CONFIG, START, END)
    rare, _ = produce(kafka_settings, namespace, incidents_config, *month)
    assert set(expected) == set(FEEDS)

    for feed_name, events in expected.items():
        spec = feed(feed_name)
        stats = (rare if feed_name == "cyber.incidents" else busy).producer.stats
        records = read_topic(
            kafka_settings.bootstrap_servers, spec.topic(namespace), stats.records[feed_name]
        )
        assert len(records) == stats.records[feed_name]
        received = []
        for key, value in records:
            decoded = decode(spec.model, value)
            assert decoded.rejected == []
            assert {e.agency for e in decoded.events} == {key.decode()}  # keyed by emitting agency
            assert len(decoded.events) <= kafka_settings.batch_events
            received.extend(decoded.events)
        # Order is kept per key (partition); across keys it may interleave.
        assert sorted(received, key=lambda e: str(e.event_id)) == sorted(
            events, key=lambda e: str(e.event_id)
        )
        per_key_sent = defaultdict(list)
        for event in events:
            per_key_sent[event.agency].append(event.event_id)
        per_key_received = defaultdict(list)
        for event in received:
            per_key_received[event.agency].append(event.event_id)
        assert per_key_received == per_key_sent


def test_malformed_records_reach_the_topic_and_fail_decoding(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    config = SimulationConfig(seed=5, scale=0.01, feeds=("ndxp.transactions",))
    end = START + timedelta(hours=1)
    sink, progress = produce(
        kafka_settings, namespace, config, START, end, FaultConfig(seed=5, malformed_rate=0.02)
    )
    injected = progress.faults.malformed["ndxp.transactions"]
    assert injected > 5
    records = read_topic(
        kafka_settings.bootstrap_servers,
        feed("ndxp.transactions").topic(namespace),
        sink.producer.stats.records["ndxp.transactions"],
    )
    rejected = sum(
        len(decode(feed("ndxp.transactions").model, value).rejected) for _, value in records
    )
    assert rejected == injected


def cli_run(bootstrap: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "GOVPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "GOVPULSE_NAMESPACE": namespace,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "connectors",
            "run",
            "--accelerate",
            "0",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_run_fills_every_topic(kafka_bootstrap: str, namespace: str) -> None:
    busy = cli_run(
        kafka_bootstrap,
        namespace,
        "--scale",
        "4",
        "--start",
        "2024-10-01T08:00:00+07:00",
        "--until",
        "2024-10-01T08:12:00+07:00",
    )
    assert busy.returncode == 0, busy.stderr
    assert "produced in" in busy.stdout
    # Incidents are rare (204 in October 2024): three days of them at scale 1.0.
    rare = cli_run(
        kafka_bootstrap,
        namespace,
        "cyber.incidents",
        "--start",
        "2024-10-01T00:00:00+07:00",
        "--until",
        "2024-10-04T00:00:00+07:00",
    )
    assert rare.returncode == 0, rare.stderr
    for spec in FEEDS.values():
        records = read_topic(kafka_bootstrap, spec.topic(namespace), timeout_s=10)
        assert records, f"{spec.name} is empty"
        events = [e for _, value in records for e in decode(spec.model, value).events]
        assert events and all(type(e) is spec.model for e in events)


def test_cli_says_one_line_when_no_broker_answers() -> None:
    result = cli_run("127.0.0.1:1", "live", "--count", "1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no Kafka broker answers at 127.0.0.1:1 (start one with `govpulse broker`, "
        "or set GOVPULSE_KAFKA__BOOTSTRAP_SERVERS)"
    ]


# Every codec the settings offer: the connectors compress with kafka-python, the workers
# decompress with aiokafka (through faust), `govpulse record` with kafka-python again.
CODECS = get_args(KafkaSettings.model_fields["compression"].annotation)


async def _read_with_aiokafka(
    bootstrap: str, topic: str, partitions: int, expected: int
) -> list[bytes]:
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([aiokafka.TopicPartition(topic, p) for p in range(partitions)])
        values: list[bytes] = []
        deadline = time.monotonic() + 20.0
        while len(values) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_offered_reads_back_in_both_clients(
    kafka_settings: KafkaSettings, namespace: str, codec: str
) -> None:
    settings = kafka_settings.model_copy(update={"compression": codec})
    config = SimulationConfig(seed=5, scale=0.01, feeds=("ndxp.transactions",))
    spec = feed("ndxp.transactions")
    sent = [e.event_id for _, e in simulate(config, START, START + timedelta(hours=1))]
    sink, _ = produce(settings, namespace, config, START, START + timedelta(hours=1))
    records = sink.producer.stats.records["ndxp.transactions"]
    assert sent and records

    by_kafka_python = [
        v for _, v in read_topic(settings.bootstrap_servers, spec.topic(namespace), records)
    ]
    by_aiokafka = asyncio.run(
        _read_with_aiokafka(
            settings.bootstrap_servers, spec.topic(namespace), spec.partitions, records
        )
    )
    for values in (by_kafka_python, by_aiokafka):
        assert len(values) == records
        received = [e.event_id for v in values for e in decode(spec.model, v).events]
        assert sorted(received) == sorted(sent)


async def _produce_with_aiokafka(
    bootstrap: str, topic: str, codec: str, values: list[bytes]
) -> None:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=codec)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value, key=b"000.00.00.G01", partition=0)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_the_workers_client_reads_every_codec_a_producer_may_use(
    kafka_settings: KafkaSettings, namespace: str, codec: str
) -> None:
    # Producers other than the connectors choose their own codec; a batch the workers' client
    # could not decompress would stall its partition (aiokafka raises on it at every fetch).
    ensure_topics(kafka_settings, select_feeds(["ndxp.transactions"]), namespace)
    topic = feed("ndxp.transactions").topic(namespace)
    values = [f'{{"n": {n}, "pad": "{"x" * (n % 700)}"}}'.encode() for n in range(300)]
    asyncio.run(_produce_with_aiokafka(kafka_settings.bootstrap_servers, topic, codec, values))
    read = asyncio.run(
        _read_with_aiokafka(
            kafka_settings.bootstrap_servers, topic, feed("ndxp.transactions").partitions,
            len(values),
        )
    )  # fmt: skip
    assert read == values
