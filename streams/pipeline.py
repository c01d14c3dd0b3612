"""The Faust application: one processing agent per feed and a flush loop.

`build_app(settings)` is what `govpulse worker` runs and what `streams.app` exposes to
`faust -A streams.app worker`. The application id and consumer group follow the namespace, so
live and replayed data never share state. State lives in the database only (design.md,
"Processing semantics", design (b); docs/stream-state.md says why): about every second the flush
loop writes everything applied since the last flush, with each partition's next offset, in one
transaction, and only then acknowledges the records to Faust.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import TP

from govpulse.settings import Settings
from govpulse.topics import FEEDS
from streams.admission import load_references
from streams.flow import FlowControl
from streams.health import health_row, reject_rows
from streams.heap import (
    HEAP_TRIM_BUSY_EVERY_S,
    HEAP_TRIM_IDLE_AFTER_S,
    HeapTrimmer,
    glibc_malloc_trim,
)
from streams.partition import SEEN_MARGIN_MINUTES, PartitionState, Pending
from streams.processor import FeedProcessor
from streams.sink import DatabaseSink, FeedBatch, Fenced, SinkUnavailable
from streams.state_store import StateStore
from streams.transport import use_prompt_transport

log = logging.getLogger(__name__)

RETRY_MAX_S = 30.0
PRUNE_EVERY_S = 60.0
OUTAGE_LOG_EVERY_S = 15.0
# How soon a newly assigned partition's position is checked against the database's offset
# (FeedProcessor.align_positions); once checked, a partition costs a set lookup per call.
ALIGN_POSITIONS_EVERY_S = 1.0


def app_id(namespace: str) -> str:
    return f"govpulse-{namespace}"


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{address.strip()}" for address in bootstrap_servers.split(",")]


Taken = tuple[FeedProcessor, int, PartitionState, Pending]


@dataclass
class Pipeline:
    """The app and what its timers need; exposed for tests and the CLI."""

    app: faust.App
    settings: Settings
    sink: DatabaseSink
    processors: dict[str, FeedProcessor]
    flow: FlowControl
    worker: str
    heap: HeapTrimmer
    flush_failures: int = 0
    _retry_at: float = 0.0
    _retry_delay: float = 0.5
    _last_prune: float = 0.0
    _last_outage_log: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def flush_once(self, force: bool = False) -> int:
        """One pass of the flush loop; returns aggregate rows written (0 while waiting to retry)."""
        async with self._lock:
            now = time.monotonic()
            if now < self._retry_at and not force:
                if self.flow.down_since and now - self._last_outage_log >= OUTAGE_LOG_EVERY_S:
                    self._last_outage_log = now
                    log.error(
                        "database unavailable since %s (%.0f s); %d events wait, the rest stay "
                        "in Kafka", self.flow.down_since.isoformat(), self.flow.outage_s(),
                        self.flow.pending,
                    )  # fmt: skip
                return 0
            taken = self._take()
            self.flow.flushing(sum(pending.events_in for *_, pending in taken))
            try:
                return await self._write(taken, now)
            except Fenced as exc:
                log.warning("%s; their records are left to their new owner", exc)
                self._give_back([t for t in taken if (t[0].topic_name, t[1]) not in exc.partitions])
                for processor in self.processors.values():
                    processor.forget(
                        {p for topic, p in exc.partitions if topic == processor.topic_name}
                    )
                return 0
            except SinkUnavailable as exc:
                self._give_back(taken)
                self.flow.database_down(str(exc))
                self._back_off(str(exc))
                return 0
            except Exception:
                # A bug must not stop every feed: keep the batch, say so loudly, try again later.
                log.exception("flush failed unexpectedly; the batch is kept and retried")
                self._give_back(taken)
                self._back_off("unexpected flush failure")
                return 0
            finally:
                self.flow.flushed(self._pending_events())

    async def until_next_flush(self, started: float) -> None:
        """Wait for the next flush: one interval after `started` (at once when the flush took
        longer: a backlog goes to the database back to back), or sooner when half the pending
        allowance waits; while backing off after a failure, one interval at a time (each pass
        of `flush_once` then says how long the database has been away)."""
        interval = self.settings.streams.flush_interval_s
        now = time.monotonic()
        if now < self._retry_at:
            await asyncio.sleep(min(interval, self._retry_at - now))
            return
        await self.flow.until_flush_due(started + interval - now)

    def _pending_events(self) -> int:
        return sum(
            state.pending.events_in
            for processor in self.processors.values()
            for state in processor.states.values()
        )

    def _back_off(self, reason: str) -> None:
        self.flush_failures += 1
        self._retry_at = time.monotonic() + self._retry_delay
        log.warning("%s; retrying in %.1f s", reason, self._retry_delay)
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)

    def _take(self) -> list[Taken]:
        taken: list[Taken] = []
        for processor in self.processors.values():
            for partition, state in processor.states.items():
                if not state.pending.empty:
                    taken.append((processor, partition, state, state.take_pending()))
        return taken

    def _give_back(self, taken: list[Taken]) -> None:
        for processor, partition, state, pending in taken:
            if processor.states.get(partition) is state:
                state.give_back(pending, processor.applier.width)

    async def _write(self, taken: list[Taken], started: float) -> int:
        wall = datetime.now(UTC)
        batches: dict[str, FeedBatch] = {}
        for processor, partition, _, pending in taken:
            batch = batches.setdefault(
                processor.feed, FeedBatch(processor.feed, processor.topic_name, {})
            )
            batch.parts[partition] = pending
        health = []
        rejects = []
        for name, processor in self.processors.items():
            parts = list(batches[name].parts.values()) if name in batches else []
            oldest = min((p.since for p in parts), default=started)
            lag = processor.consumer_lag()
            latency_ms = int((time.monotonic() - oldest) * 1000) if parts else 0
            health.append(health_row(name, self.worker, wall, parts, latency_ms, lag))
            rejects += reject_rows(name, self.worker, wall, parts)
        # Dead letters and late batches of these records reach the broker before their offsets
        # reach the database, so a crash in between sends them again rather than never.
        await self.app.producer.flush()
        result = await self.sink.write(
            list(batches.values()), health, rejects, self._prune_horizons()
        )
        for feed, events in result.quarantined.items():
            log.error("%s: %d events quarantined (the database refused their rows)", feed, events)
        for processor, partition, state, pending in taken:
            state.committed(pending)
            if processor.states.get(partition) is state:
                for stream, event in pending.acks:
                    await stream.ack(event)
        self.flow.database_up()
        self._retry_delay = 0.5
        self.heap.after_flush(time.monotonic(), wrote=bool(taken))
        return result.rows

    def _prune_horizons(self) -> dict[tuple[str, int], int]:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_S:
            return {}
        self._last_prune = now
        horizons = {}
        for processor in self.processors.values():
            for partition, state in processor.states.items():
                if state.watermark is not None:
                    horizons[(processor.topic_name, partition)] = (
                        state.watermark - processor.grace_minutes - SEEN_MARGIN_MINUTES
                    )
        return horizons

    def on_revoked(self, revoked: set[TP]) -> None:
        for processor in self.processors.values():
            processor.forget(processor.assigned(revoked))

    async def final_flush(self) -> None:
        """On shutdown: one last flush, bounded; what it cannot write is read again next start."""
        timeout = self.settings.streams.shutdown_flush_timeout_s
        try:
            await asyncio.wait_for(self.flush_once(force=True), timeout)
        except TimeoutError:
            log.warning("the last flush did not finish within %.0f s; the next start reads "
                        "those records again", timeout)  # fmt: skip
        await self.sink.close()


def build_app(settings: Settings, probe_broker: bool = True) -> Pipeline:
    streams = settings.streams
    # Faust makes a table directory even for in-memory tables, by default in the working
    # directory: checkouts filled with them (and `govpulse*` package discovery took them in). A
    # private one (0700, unique) is made instead and removed on shutdown.
    datadir = tempfile.mkdtemp(prefix=f"{app_id(settings.namespace)}-")
    app = faust.App(
        app_id(settings.namespace),
        datadir=datadir,
        broker=broker_urls(settings.kafka.bootstrap_servers),
        store="memory://",
        web_enabled=False,
        topic_replication_factor=replication_factor(settings) if probe_broker else 1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=streams.session_timeout_s,
        broker_heartbeat_interval=streams.heartbeat_interval_s,
        broker_rebalance_timeout=streams.session_timeout_s,
        stream_buffer_maxsize=streams.stream_buffer_records,
        broker_max_poll_records=streams.max_poll_records,
        consumer_max_fetch_size=streams.fetch_bytes_per_partition,
        # Records are acknowledged by the flush, not by the agents: nothing to wait for on stop.
        stream_wait_empty=False,
    )
    # Before anything asks the app for its transport (declaring topics does).
    use_prompt_transport(app, streams.fetch_max_wait_ms)
    worker = streams.worker_name or f"{socket.gethostname()}-{os.getpid()}"
    flow = FlowControl(streams.max_pending_events)
    grace_minutes = max(1, streams.grace_s // 60)
    store = StateStore(settings.db, settings.namespace, grace_minutes)
    load_references()  # before any record: see its docstring
    processors = {
        name: FeedProcessor(app, spec, settings.namespace, streams, store, flow)
        for name, spec in FEEDS.items()
    }

    def settle() -> None:
        # Once the worker is idle: ids the window has passed go even though no record comes to
        # evict them, the newest ids leave their dicts for the arrays, and cycles are collected
        # (the young threshold is high, cli/worker.py); the trim then returns what they held.
        for processor in processors.values():
            processor.evict()
            for state in processor.states.values():
                state.seen.compact()
        gc.collect()

    heap = HeapTrimmer(HEAP_TRIM_BUSY_EVERY_S, HEAP_TRIM_IDLE_AFTER_S, glibc_malloc_trim(),
                       time.monotonic(), settle)  # fmt: skip
    pipeline = Pipeline(app, settings, DatabaseSink(settings.db, settings.namespace),
                        processors, flow, worker, heap)  # fmt: skip

    async def flush_loop() -> None:
        while True:
            started = time.monotonic()
            try:
                await pipeline.flush_once()
            except Exception:  # flush_once keeps its own failures; this is a bug around it
                log.exception("the flush loop failed; it carries on at the next interval")
            await pipeline.until_next_flush(started)

    async def align_positions() -> None:
        for processor in processors.values():
            await processor.align_positions()

    async def on_revoked(_: Any, *args: Any, **__: Any) -> None:
        pipeline.on_revoked(set(args[0]))

    async def on_shutdown(_: Any, *__: Any, **___: Any) -> None:
        await pipeline.final_flush()
        await store.close()
        shutil.rmtree(datadir, ignore_errors=True)

    app.task(flush_loop)
    app.timer(interval=ALIGN_POSITIONS_EVERY_S)(align_positions)
    # mode's Signal.connect stub wants a keyword-only `signal`; faust passes it as a keyword.
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_before_shutdown.connect(cast(Any, on_shutdown))
    if settings.alerts.enabled:
        from streams.alerting.worker import attach_alerting

        attach_alerting(app, settings)
    return pipeline


def replication_factor(settings: Settings) -> int:
    """Topics the worker declares (dead letters, late) are replicated where the cluster can."""
    from govpulse.kafka_admin import admin_client

    client = admin_client(settings.kafka)
    try:
        brokers = len(client.describe_cluster().get("brokers", []))
    finally:
        client.close()
    return 3 if brokers >= 3 else 1
