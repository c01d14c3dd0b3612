"""Reading a namespace's topics back from Kafka as replayable elements (for `record` and
`replay kafka:NAME`).

Partitions are assigned directly (no consumer group, nothing committed), read from the earliest
offset or a given one, and each record is validated: only valid events are kept, since the
invalid ones already went to the dead-letter topics when they first passed. Reading stops once
every partition has reached the end offsets seen at the start and the broker has had nothing
more for `idle_s` (the embedded broker under-reports end offsets, so the idle wait matters).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from connectors.faults import Outgoing
from govpulse.codec import decode
from govpulse.kafka_admin import require_reachable
from govpulse.recording import event_time_ms
from govpulse.settings import KafkaSettings
from govpulse.topics import FeedSpec


@dataclass
class ReadStats:
    records: int = 0
    events: int = 0
    invalid: int = 0
    skipped_by_time: int = 0
    total_records: int = 0  # the end offsets at the start, less the start offsets
    per_feed: dict[str, int] = field(default_factory=dict)


def kafka_source(
    settings: KafkaSettings,
    namespace: str,
    feeds: list[FeedSpec],
    since: datetime | None = None,
    until: datetime | None = None,
    from_offset: int | None = None,
    idle_s: float = 2.0,
    stats: ReadStats | None = None,
) -> Iterator[Outgoing]:
    require_reachable(settings)
    stats = stats if stats is not None else ReadStats()
    by_topic = {spec.topic(namespace): spec for spec in feeds}
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-record",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
    )
    since_ms = since.timestamp() * 1000 if since else None
    until_ms = until.timestamp() * 1000 if until else None
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in by_topic
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        if from_offset is None:
            consumer.seek_to_beginning(*partitions)
        else:
            for tp in partitions:
                consumer.seek(tp, from_offset)
        ends = consumer.end_offsets(partitions)
        stats.total_records = sum(max(0, ends[tp] - consumer.position(tp)) for tp in partitions)
        idle_since = time.monotonic()
        while True:
            batches = consumer.poll(timeout_ms=200, max_records=5_000)
            if not batches:
                caught_up = all(consumer.position(tp) >= ends[tp] for tp in partitions)
                if caught_up and time.monotonic() - idle_since >= idle_s:
                    return
                continue
            idle_since = time.monotonic()
            for tp, records in batches.items():
                spec = by_topic[tp.topic]
                for record in records:
                    stats.records += 1
                    decoded = decode(spec.model, record.value)
                    stats.invalid += len(decoded.rejected)
                    for event in decoded.events:
                        timestamp = event_time_ms(event)
                        if (since_ms is not None and timestamp < since_ms) or (
                            until_ms is not None and timestamp >= until_ms
                        ):
                            stats.skipped_by_time += 1
                            continue
                        stats.events += 1
                        stats.per_feed[spec.name] = stats.per_feed.get(spec.name, 0) + 1
                        yield Outgoing(
                            spec.name, event.agency, timestamp, event.model_dump_json().encode()
                        )
    finally:
        consumer.close()
