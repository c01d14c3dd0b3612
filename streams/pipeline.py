"""The Faust application: one aggregating agent and one archiving agent per feed, a flush loop
that upserts changed buckets and pipeline health about every second.

`build_app(settings)` is what `govpulse worker` runs and what `streams.app` exposes to
`faust -A streams.app worker`. The application id and consumer group follow the namespace, so
live and replayed data never share state.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import faust

from govpulse.settings import Settings
from govpulse.topics import FEEDS
from streams.aggregator import FeedAggregator
from streams.archiver import FeedArchiver
from streams.health import FeedHealth
from streams.sink import DatabaseSink, SinkUnavailable

log = logging.getLogger(__name__)

ADOPT_EVERY_S = 10.0
RETRY_MAX_S = 30.0
DEFAULT_PRODUCER_BATCH_BYTES = 16_384  # faust's own default


def app_id(namespace: str) -> str:
    return f"govpulse-{namespace}"


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{address.strip()}" for address in bootstrap_servers.split(",")]


@dataclass
class Pipeline:
    """The app and what its timers need; exposed for tests and the CLI."""

    app: faust.App
    settings: Settings
    sink: DatabaseSink
    aggregators: dict[str, FeedAggregator]
    health: dict[str, FeedHealth]
    worker: str
    flush_failures: int = 0
    _retry_at: float = 0.0
    _retry_delay: float = 0.5
    _last_adopt: float = field(default=0.0)

    async def flush_once(self) -> int:
        """One pass of the flush loop; returns rows written (0 while waiting to retry)."""
        now = time.monotonic()
        if now < self._retry_at:
            return 0
        if now - self._last_adopt >= ADOPT_EVERY_S:
            self._last_adopt = now
            for aggregator in self.aggregators.values():
                adopted = aggregator.adopt_restored()
                if adopted:
                    log.info(
                        "%s: %d restored buckets queued for the database", aggregator.feed, adopted
                    )
        written = 0
        try:
            for aggregator in self.aggregators.values():
                written += await aggregator.flush(self.sink)
            await self._flush_health()
        except SinkUnavailable as exc:
            self.flush_failures += 1
            self._retry_at = time.monotonic() + self._retry_delay
            log.warning("%s; retrying in %.1f s", exc, self._retry_delay)
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
            return written
        self._retry_delay = 0.5
        return written

    async def _flush_health(self) -> None:
        now = datetime.now(UTC)
        rows = {}
        for feed_name, health in self.health.items():
            health.consumer_lag = self.aggregators[feed_name].consumer_lag()
            rows[feed_name] = health.drain(feed_name, self.worker, now)
        try:
            await self.sink.health(list(rows.values()))
        except SinkUnavailable:
            for feed_name, row in rows.items():
                self.health[feed_name].restore(row)
            raise


@dataclass(frozen=True)
class BrokerTraits:
    """What the worker adapts to: Tansu's offset quirk, and how many replicas the cluster holds."""

    single_record_batches: bool
    replication_factor: int


def probe_broker_traits(settings: Settings) -> BrokerTraits:
    from govpulse.kafka_admin import admin_client

    client = admin_client(settings.kafka)
    try:
        cluster = client.describe_cluster()
    finally:
        client.close()
    configured = settings.streams.single_record_batches
    # The embedded broker keeps Tansu's default cluster id.
    tansu = cluster.get("cluster_id") == "tansu_cluster"
    brokers = len(cluster.get("brokers", []))
    return BrokerTraits(
        single_record_batches=tansu if configured is None else configured,
        # Changelogs are the workers' state: replicate them wherever the cluster can.
        replication_factor=3 if brokers >= 3 else 1,
    )


def build_app(settings: Settings, probe_broker: bool = True) -> Pipeline:
    streams = settings.streams
    traits = (
        probe_broker_traits(settings)
        if probe_broker
        else BrokerTraits(bool(streams.single_record_batches), 1)
    )
    app = faust.App(
        app_id(settings.namespace),
        broker=broker_urls(settings.kafka.bootstrap_servers),
        store="memory://",
        web_enabled=False,
        topic_replication_factor=traits.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=streams.session_timeout_s,
        broker_heartbeat_interval=streams.heartbeat_interval_s,
        broker_rebalance_timeout=streams.session_timeout_s,
        table_standby_replicas=0,
        producer_max_batch_size=1 if traits.single_record_batches else DEFAULT_PRODUCER_BATCH_BYTES,
    )
    worker = streams.worker_name or f"{socket.gethostname()}-{os.getpid()}"
    sink = DatabaseSink(settings.db, settings.namespace)
    health = {name: FeedHealth() for name in FEEDS}
    aggregators = {
        name: FeedAggregator(app, spec, settings.namespace, streams.grace_s, health[name])
        for name, spec in FEEDS.items()
    }
    if streams.archive_raw:
        for name, spec in FEEDS.items():
            archive_sink = DatabaseSink(settings.db, settings.namespace)
            FeedArchiver(
                app, aggregators[name].topic, spec, archive_sink, streams.archive_batch_records
            )
    pipeline = Pipeline(app, settings, sink, aggregators, health, worker)

    async def flush() -> None:
        await pipeline.flush_once()

    app.timer(interval=streams.flush_interval_s)(flush)
    if settings.alerts.enabled:
        from streams.alerting.worker import attach_alerting

        attach_alerting(app, settings)

    return pipeline
