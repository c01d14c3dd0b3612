"""One feed's Faust agent: every record decoded once, applied to its partition's state.

Records are not acknowledged when processed but when the flush that holds them has committed, so
the offsets Faust commits to Kafka never pass what the database holds; the database's own
offsets (read when a partition is taken over) say exactly which records are already applied.
Dead letters and late batches are sent as the record is processed; the flush waits for the
producer before committing, so they are never behind the offsets either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import faust
from faust.types import TP

from govpulse.codec import ElementValidator
from govpulse.fast_contracts import fast_validator
from govpulse.settings import StreamsSettings
from govpulse.topics import FeedSpec
from streams.admission import admission_check
from streams.flow import FlowControl
from streams.measures import ACCUMULATORS
from streams.partition import SEEN_MARGIN_MINUTES, Limits, PartitionState, RecordApplier
from streams.side_channels import dead_letter, late_batches
from streams.sink import SinkUnavailable
from streams.state_store import StateStore

log = logging.getLogger(__name__)

EVICT_EVERY_RECORDS = 200
LOAD_RETRY_MAX_S = 10.0


class FeedProcessor:
    """Registers the agent and the side-channel topics of one feed on a Faust app."""

    def __init__(
        self,
        app: faust.App,
        spec: FeedSpec,
        namespace: str,
        settings: StreamsSettings,
        store: StateStore,
        flow: FlowControl,
        validator: ElementValidator[Any] | None = None,
    ) -> None:
        self.app = app
        self.spec = spec
        self.feed = spec.name
        self.settings = settings
        self.store = store
        self.flow = flow
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
        self.grace_minutes = max(1, settings.grace_s // 60)
        limits = Limits(
            max_record_bytes=settings.max_record_bytes,
            max_record_events=settings.max_record_events,
            grace_minutes=self.grace_minutes,
            max_future_s=settings.max_future_s,
        )
        self.applier = RecordApplier(
            spec, ACCUMULATORS[spec.name], admission_check(spec.name), limits,
            validator=validator or fast_validator(spec.model), archive=settings.archive_raw,
        )  # fmt: skip
        self.states: dict[int, PartitionState] = {}
        self.position: dict[int, int] = {}  # partition -> next offset this worker will read
        self._seek_checked: set[int] = set()
        self._assignments = 0  # bumped when partitions go: a check begun before is void
        self._records = 0
        app.agent(self.topic, name=f"process-{spec.name}")(self.process)

    async def process(self, stream: faust.StreamT[bytes]) -> None:
        # A coroutine, not an async generator: faust consumes a yielding agent through
        # Agent._slurp, which formats a debug line and looks for a reply address on every record
        # (about 4% of the worker's CPU, py-spy; docs/performance.md).
        manual = cast(Any, stream).noack()  # faust's StreamT stub lacks noack()
        async for event in manual.events():
            await self.handle(manual, event)

    async def handle(self, stream: faust.StreamT[bytes], event: faust.EventT[bytes]) -> None:
        message = event.message
        partition, offset = message.partition, message.offset
        state = self.states.get(partition)
        if state is None:
            state = await self._load(partition)
        if partition not in self._seek_checked:
            self._seek_checked.add(partition)
            if offset > state.next_offset:
                # Kafka's committed offset was ahead of the database (a dropped batch, a fenced
                # flush): read the gap again. Once only: a gap that Kafka no longer holds (expired
                # by retention) is accepted rather than sought forever.
                log.warning(
                    "%s[%d]: rewinding from %d to the database's offset %d",
                    self.topic_name, partition, offset, state.next_offset,
                )  # fmt: skip
                await self.app.consumer.seek(message.tp, state.next_offset)
                return
        self.position[partition] = offset + 1
        if offset < state.pending.to_offset:
            if offset < state.next_offset:
                await stream.ack(event)  # applied before: the database has it
            return
        await self.flow.wait_for_room()
        before = state.pending.events_in
        outcome = self.applier.apply(state, event.key, event.value, offset, time.time())
        state.pending.acks.append((stream, event))
        self.flow.added(state.pending.events_in - before)
        key = event.key or b""
        for rejected in outcome.rejected:
            value = dead_letter(
                rejected, self.topic_name, partition, offset,
                self.settings.max_dead_letter_payload_bytes,
            )  # fmt: skip
            await self.dlq.send(key=key, value=value)
        for value in late_batches(outcome.late_raws, self.settings.max_output_record_bytes):
            await self.late.send(key=key, value=value)
        self._records += 1
        if self._records % EVICT_EVERY_RECORDS == 0:
            self.evict()

    async def align_positions(self) -> None:
        """Send partitions whose committed offset is ahead of the database back to its offset.

        Kafka's committed offset passes the database's when the database loses what it had (a
        namespace's schema re-created, a restore from an older backup). `handle` checks on the
        first record a partition delivers, but a partition with nothing after its committed
        offset delivers none, and the gap would wait for the next event. So each assigned
        partition's position is also checked here, once, after faust has sought it to the
        committed offset (at the end of a rebalance).
        """
        if self.app.rebalancing:
            return
        consumer = self.app.consumer
        try:
            unchecked = [
                tp for tp in consumer.assignment()
                if tp.topic == self.topic_name and tp.partition not in self._seek_checked
            ]  # fmt: skip
        except Exception:  # not started or stopping: the next call checks
            return
        for tp in unchecked:
            assignments = self._assignments
            try:
                position = await consumer.position(tp)
            except Exception as exc:  # revoked meanwhile, or the consumer is stopping
                log.debug("%s: no position yet (%s)", tp, exc)
                continue
            if position is None or assignments != self._assignments:
                continue
            state = self.states.get(tp.partition) or await self._load(tp.partition)
            if assignments != self._assignments or tp.partition in self._seek_checked:
                continue  # revoked, or a record arrived and `handle` checked it meanwhile
            self._seek_checked.add(tp.partition)
            if position > state.next_offset:
                log.warning(
                    "%s[%d]: the committed offset %d is ahead of the database's %d; reading "
                    "the gap again", self.topic_name, tp.partition, position, state.next_offset,
                )  # fmt: skip
                await consumer.seek(tp, state.next_offset)

    async def _load(self, partition: int) -> PartitionState:
        delay = 0.5
        while True:
            try:
                state = await self.store.load(self.topic_name, partition)
                break
            except SinkUnavailable as exc:
                log.warning("%s; retrying in %.1f s", exc, delay)
                self.flow.database_down(str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, LOAD_RETRY_MAX_S)
        # Two loads can overlap (a record and `align_positions`): the first one stands, since
        # records may already have been applied to it.
        return self.states.setdefault(partition, state)

    def evict(self) -> None:
        """Forget ids that no event inside the grace window can repeat any more."""
        for state in self.states.values():
            if state.watermark is not None:
                state.seen.evict_before(state.watermark - self.grace_minutes - SEEN_MARGIN_MINUTES)

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions that moved away or were fenced: their unwritten records stay unacked,
        and whoever owns the partition reads them again from the database's offset."""
        self._assignments += 1
        for partition in partitions:
            state = self.states.pop(partition, None)
            if state is not None:
                self.flow.removed(state.pending.events_in)
            self._seek_checked.discard(partition)
            self.position.pop(partition, None)

    def assigned(self, partitions: set[TP]) -> set[int]:
        return {tp.partition for tp in partitions if tp.topic == self.topic_name}

    def consumer_lag(self) -> int | None:
        """Records in Kafka not yet read by this worker, over the partitions it holds (from the
        high-water marks the broker returned with the latest fetches)."""
        consumer = self.app.consumer
        try:
            tps = [tp for tp in consumer.assignment() if tp.topic == self.topic_name]
        except Exception:  # not started or stopping: no figure rather than a wrong one
            return None
        lag = 0
        for tp in tps:
            end = consumer.highwater(tp)
            if end is None:
                continue
            state = self.states.get(tp.partition)
            read = self.position.get(tp.partition, state.next_offset if state else 0)
            lag += max(0, int(end) - read)
        return lag
