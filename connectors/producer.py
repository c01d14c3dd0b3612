"""Producing feed elements to Kafka as batched records (kafka-python).

Elements are grouped per (topic, key) into JSON-array records of up to `batch_events` elements,
or flushed after `linger_ms`: design.md explains why records carry batches. With
`batch_events == 1` each record is a single JSON object. The producer is idempotent with acks
from all in-sync replicas, and `close()` flushes everything before it returns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.faults import Outgoing
from govpulse.kafka_admin import BrokerUnavailable, require_reachable
from govpulse.settings import KafkaSettings
from govpulse.topics import feed

log = logging.getLogger(__name__)


class ProduceError(RuntimeError):
    """Records the broker did not acknowledge; raised by `close()` so nothing fails silently."""


@dataclass
class ProducerStats:
    events: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    failed_records: int = 0
    last_error: str = ""


@dataclass
class _Buffer:
    items: list[bytes] = field(default_factory=list)
    first_at: float = 0.0


class BatchingProducer:
    def __init__(self, settings: KafkaSettings, namespace: str) -> None:
        require_reachable(settings)
        self.settings = settings
        self.namespace = namespace
        self.stats = ProducerStats()
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._topics: dict[str, str] = {}  # feed name -> physical topic
        self._span_start_ms: int | None = None  # event time of the oldest element buffered
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.bootstrap_servers,
                client_id=f"{settings.client_id}-connectors",
                acks="all",
                enable_idempotence=True,
                compression_type=None if settings.compression == "none" else settings.compression,
                linger_ms=5,
                batch_size=1 << 20,
                max_request_size=8 << 20,
                request_timeout_ms=settings.request_timeout_ms,
            )
        except KafkaError as exc:
            raise BrokerUnavailable(
                f"cannot produce to {settings.bootstrap_servers}: {exc}"
            ) from None

    def send(self, out: Outgoing) -> None:
        """Queue one element; a full batch is sent at once."""
        if out.whole_record:
            self._send(out.feed, out.key, out.value, events=1)
            return
        span = self.settings.batch_event_span_ms
        if self._span_start_ms is None:
            self._span_start_ms = out.timestamp_ms
        elif out.timestamp_ms - self._span_start_ms > span:
            self._flush_buffers()
            self._span_start_ms = out.timestamp_ms
        buffer = self._buffers.get((out.feed, out.key))
        if buffer is None:
            buffer = self._buffers[(out.feed, out.key)] = _Buffer()
        if not buffer.items:
            buffer.first_at = time.monotonic()
        buffer.items.append(out.value)
        if len(buffer.items) >= self.settings.batch_events:
            self._flush_buffer(out.feed, out.key, buffer)

    def poll(self) -> None:
        """Send every batch that has waited longer than `linger_ms`; call it often."""
        deadline = time.monotonic() - self.settings.linger_ms / 1000
        for (feed_name, key), buffer in self._buffers.items():
            if buffer.items and buffer.first_at <= deadline:
                self._flush_buffer(feed_name, key, buffer)

    def flush(self, timeout_s: float | None = None) -> None:
        self._flush_buffers()
        self._producer.flush(timeout=timeout_s)

    def _flush_buffers(self) -> None:
        for (feed_name, key), buffer in self._buffers.items():
            if buffer.items:
                self._flush_buffer(feed_name, key, buffer)
        self._span_start_ms = None

    def close(self) -> None:
        """Flush everything, close, and raise `ProduceError` if any record was not acknowledged."""
        try:
            self.flush()
        finally:
            self._producer.close()
        if self.stats.failed_records:
            raise ProduceError(
                f"{self.stats.failed_records} records were not acknowledged "
                f"(last error: {self.stats.last_error})"
            )

    def _flush_buffer(self, feed_name: str, key: str, buffer: _Buffer) -> None:
        items = buffer.items
        value = items[0] if self.settings.batch_events == 1 else b"[" + b",".join(items) + b"]"
        self._send(feed_name, key, value, events=len(items))
        buffer.items = []

    def _send(self, feed_name: str, key: str, value: bytes, events: int) -> None:
        topic = self._topics.get(feed_name)
        if topic is None:
            topic = self._topics[feed_name] = feed(feed_name).topic(self.namespace)
        # The record timestamp stays the produce time: Kafka's time-based retention reads it,
        # and a replay of 2024 must not be deleted on arrival. Event time is in the payload.
        future = self._producer.send(topic, key=key.encode(), value=value)
        future.add_errback(self._on_error)
        self.stats.events[feed_name] += events
        self.stats.records[feed_name] += 1
        self.stats.bytes[feed_name] += len(value)

    def _on_error(self, exc: BaseException) -> None:
        self.stats.failed_records += 1
        self.stats.last_error = str(exc)
        log.error("a record was not acknowledged: %s", exc)
