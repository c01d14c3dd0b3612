"""One feed's Faust agent: validate, deduplicate, route late events, aggregate into buckets.

State lives in a changelog-backed table, one entry per (agency, minute) plus one watermark per
partition. The agent writes each touched entry once per record; the flush loop upserts the
absolute rows of changed entries into the database about every second, so a restart replays the
changelog and rewrites the same values: no loss, no double count.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import faust
import orjson
from faust.types import TP

from govpulse.codec import Rejected, decode
from govpulse.events import Event
from govpulse.topics import FeedSpec
from streams import buckets
from streams.health import FeedHealth
from streams.sink import DatabaseSink

log = logging.getLogger(__name__)

WATERMARK_PREFIX = "~wm|"
EVICT_EVERY_RECORDS = 500
# Buckets stay in the table a little past the grace, so duplicates arriving then are still known.
EVICT_MARGIN_MINUTES = 10


def dead_letter(rejected: Rejected, topic: str, partition: int, offset: int) -> bytes:
    """The dead-letter record: why, where from, and the original bytes."""
    body: dict[str, Any] = {
        "reason": rejected.reason,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "index": rejected.index,
        },
    }
    try:
        body["payload"] = rejected.payload.decode("utf-8")
    except UnicodeDecodeError:
        body["payload_base64"] = base64.b64encode(rejected.payload).decode("ascii")
    return orjson.dumps(body)


class FeedAggregator:
    """Registers the agent, table and side-channel topics of one feed on a Faust app."""

    def __init__(
        self,
        app: faust.App,
        spec: FeedSpec,
        namespace: str,
        grace_s: int,
        health: FeedHealth,
    ) -> None:
        self.app = app
        self.spec = spec
        self.feed = spec.name
        self.grace_minutes = max(1, grace_s // 60)
        self.health = health
        self.topic_name = spec.topic(namespace)
        self.topic = app.topic(
            self.topic_name, key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw", partitions=spec.partitions,
        )  # fmt: skip
        self.dlq = app.topic(
            spec.dlq_topic(namespace), key_serializer="raw", value_serializer="raw"
        )
        self.late = app.topic(
            spec.late_topic(namespace), key_serializer="raw", value_serializer="raw"
        )
        self.table = app.Table(
            f"buckets-{spec.name.replace('.', '-')}", default=None, partitions=spec.partitions
        )
        # What the flush loop still owes the database: key -> (first change, change counter).
        self.dirty: dict[str, tuple[float, int]] = {}
        self._changes = 0
        self._seen: dict[str, set[int]] = {}
        self._index: dict[int, dict[str, int]] = defaultdict(dict)  # partition -> key -> minute
        self._records = 0
        app.agent(self.topic, name=f"aggregate-{spec.name}")(self.process)

    async def process(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            await self.handle(event.key or b"", event.value, message.partition, message.offset)
            yield None

    async def handle(self, key: bytes, value: bytes, partition: int, offset: int) -> None:
        """Everything one record does; runs inside stream iteration (tables may be written)."""
        decoded = decode(self.spec.model, value)
        rejected = list(decoded.rejected)
        agency = key.decode("utf-8", errors="replace")
        events: list[Event] = []
        for index, event in enumerate(decoded.events):
            if event.agency == agency:
                events.append(event)
            else:
                # Buckets are partitioned by agency: an event under another agency's key would
                # land its state in the wrong partition.
                reason = f"agency {event.agency!r} does not match the record key {agency!r}"
                rejected.append(Rejected(reason, event.model_dump_json().encode(), index))
        for bad in rejected:
            await self.dlq.send(key=key, value=dead_letter(bad, self.topic_name, partition, offset))
        self.health.invalid += len(rejected)
        if events:
            await self._aggregate(agency, events, partition)
        self._records += 1
        if self._records % EVICT_EVERY_RECORDS == 0:
            self._evict(partition)

    async def _aggregate(self, agency: str, events: list[Event], partition: int) -> None:
        health = self.health
        health.events_in += len(events)
        watermark_key = f"{WATERMARK_PREFIX}{partition}"
        watermark: int | None = self.table.get(watermark_key)
        by_minute: dict[int, list[Event]] = defaultdict(list)
        for event in events:
            by_minute[buckets.minute_of(event.occurred_at)].append(event)
        late_events: list[Event] = []
        now = time.monotonic()
        for minute, group in sorted(by_minute.items()):
            key = buckets.bucket_key(agency, minute)
            state = self.table.get(key)
            if state is None:
                state = buckets.new_state(partition)
                self._seen[key] = set()
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = set(state["ids"])
            late = buckets.is_late(minute, watermark, self.grace_minutes)
            outcome = buckets.apply_events(self.feed, state, group, late, seen)
            health.duplicates += len(outcome.duplicates)
            late_events += outcome.late
            if outcome.counted:
                self.table[key] = state
                self._changes += 1
                first = self.dirty.get(key, (now, 0))[0]
                self.dirty[key] = (first, self._changes)
                self._index[partition][key] = minute
        newest = max(by_minute)
        health.saw(max(e.occurred_at for e in events))
        if watermark is None or newest > watermark:
            self.table[watermark_key] = newest
        if late_events:
            health.late += len(late_events)
            payload = b"[" + b",".join(e.model_dump_json().encode() for e in late_events) + b"]"
            await self.late.send(key=agency.encode(), value=payload)

    def _evict(self, partition: int) -> None:
        """Drop this partition's buckets that are past the grace and already in the database."""
        watermark: int | None = self.table.get(f"{WATERMARK_PREFIX}{partition}")
        if watermark is None:
            return
        horizon = watermark - self.grace_minutes - EVICT_MARGIN_MINUTES
        index = self._index[partition]
        for key, minute in list(index.items()):
            if minute < horizon and key not in self.dirty:
                del self.table[key]
                del index[key]
                self._seen.pop(key, None)

    def adopt_restored(self) -> int:
        """Index entries the table restored from its changelog, and mark them for flushing.

        After a restart (or when partitions move here) the database may lack the last changes
        the changelog holds; rewriting their absolute values is harmless and closes that gap.
        """
        assigned = self.assigned_partitions()
        indexed = {key for keys in self._index.values() for key in keys}
        adopted = 0
        now = time.monotonic()
        for key, state in list(self.table.items()):
            if key.startswith(WATERMARK_PREFIX) or key in indexed or state is None:
                continue
            if state["p"] not in assigned:
                continue
            _, minute = buckets.parse_bucket_key(key)
            self._index[state["p"]][key] = minute
            self._changes += 1
            self.dirty.setdefault(key, (now, self._changes))
            adopted += 1
        return adopted

    def assigned_partitions(self) -> set[int]:
        actives: set[TP] = self.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic == self.topic_name}

    def consumer_lag(self) -> int | None:
        consumer = self.app.consumer
        lag = 0
        try:
            for tp in consumer.assignment():
                if tp.topic != self.topic_name:
                    continue
                # faust keeps the last offset read per partition privately; no public accessor.
                read = getattr(consumer, "_read_offset", {}).get(tp)
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    lag += max(0, highwater - ((read + 1) if read is not None else 0))
        except (AttributeError, KeyError):
            return None
        return lag

    async def flush(self, sink: DatabaseSink) -> int:
        """Upsert the rows of every changed bucket still owned here; returns rows written.

        Raises `SinkUnavailable` with the dirty set intact, so the next call retries.
        """
        if not self.dirty:
            return 0
        assigned = self.assigned_partitions()
        snapshot = dict(self.dirty)
        rows: list[tuple[Any, ...]] = []
        for key in snapshot:
            state = self.table.get(key)
            if state is None or state["p"] not in assigned:
                self.dirty.pop(key, None)  # moved to another worker, which flushes it
                continue
            rows.extend(buckets.rows(self.feed, key, state))
        started = time.monotonic()
        await sink.upsert_buckets(self.feed, rows)
        oldest = min(first for first, _ in snapshot.values())
        self.health.flush_latency_ms_max = max(
            self.health.flush_latency_ms_max, int((time.monotonic() - oldest) * 1000)
        )
        for key, (_, change) in snapshot.items():
            if self.dirty.get(key, (0.0, -1))[1] == change:
                del self.dirty[key]
        log.debug(
            "%s: %d rows in %.0f ms", self.feed, len(rows), (time.monotonic() - started) * 1000
        )
        return len(rows)
