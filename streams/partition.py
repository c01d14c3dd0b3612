"""One input partition's state and what one record does to it: no I/O.

`PartitionState` holds what the database said when the partition was assigned (next offset,
watermark, the ids counted within the grace window) and `Pending`: everything applied since the
last flush, which the sink writes in one transaction with the new offset. `apply_record` decodes
one record once and sends every event to exactly one place: the aggregate deltas (and the
archive), the late channel, the dead letters, or the duplicate count.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from govpulse.codec import Decoded, ElementValidator, Rejected, RejectReason, decode
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import Event
from govpulse.topics import FeedSpec
from streams.admission import EARLIEST_TIMESTAMP, QUICK_CHECKS, AdmissionCheck
from streams.copy_binary import Archived
from streams.dedupe import DUPLICATE, Seen, SeenIds, content_digest
from streams.measures import Accumulate

# Event times as whole microseconds since the Unix epoch: exact (datetime.timestamp() is a float)
# and one subtraction per event serves admission, the minute and the archive's COPY value.
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
_EARLIEST_US = round(EARLIEST_TIMESTAMP) * 1_000_000


def epoch_in(zone: tzinfo | None) -> datetime:
    """The Unix epoch to subtract from times in `zone`: in the same fixed-offset zone object
    when it is one, since subtracting two datetimes of one tzinfo object skips both offset
    lookups (half the cost; events of a feed all carry the decoder's one +07:00 object). Any
    other zone (one with daylight saving time, say) gets the UTC epoch: always exact."""
    if type(zone) is timezone:
        return UNIX_EPOCH.astimezone(zone)
    return UNIX_EPOCH


_MINUTE_US = 60_000_000

# Ids stay known this long past the grace, so a duplicate arriving just then is still caught.
SEEN_MARGIN_MINUTES = 10

RowKey = tuple[Any, ...]  # (minute, agency, *dimensions)


@dataclass(frozen=True, slots=True)
class Limits:
    max_record_bytes: int
    max_record_events: int
    grace_minutes: int
    max_future_s: int


@dataclass
class Pending:
    """What the partition owes the database since the last successful flush."""

    from_offset: int  # the stored next offset this pending batch starts from (the fence)
    to_offset: int  # the next offset once this batch is written
    rows: dict[RowKey, list[Any]] = field(default_factory=dict)
    archive: list[Archived] = field(default_factory=list)
    seen: array[int] = field(default_factory=lambda: array("Q"))  # (digest, packed) pairs
    seen_max_minute: int = 0
    watermark: int | None = None
    events_in: int = 0
    counted: int = 0
    late: int = 0
    duplicates: int = 0
    rejects: Counter[RejectReason] = field(default_factory=Counter)
    last_event_at: datetime | None = None
    since: float = 0.0  # monotonic time the oldest pending record arrived
    acks: list[Any] = field(default_factory=list)  # faust events to acknowledge once written

    @property
    def empty(self) -> bool:
        return self.to_offset == self.from_offset and not self.acks

    @property
    def invalid(self) -> int:
        return sum(self.rejects.values())

    def absorb_newer(self, newer: Pending, width: int) -> None:
        """Append a later pending batch to this one (after a failed flush: write both next time)."""
        for key, values in newer.rows.items():
            mine = self.rows.get(key)
            if mine is None:
                self.rows[key] = values
            else:
                add_into(mine, values, width)
        self.archive += newer.archive
        self.seen += newer.seen
        self.seen_max_minute = max(self.seen_max_minute, newer.seen_max_minute)
        if newer.watermark is not None:
            self.watermark = newer.watermark
        self.to_offset = newer.to_offset
        self.events_in += newer.events_in
        self.counted += newer.counted
        self.late += newer.late
        self.duplicates += newer.duplicates
        self.rejects += newer.rejects
        if newer.last_event_at and (
            self.last_event_at is None or newer.last_event_at > self.last_event_at
        ):
            self.last_event_at = newer.last_event_at
        self.acks += newer.acks


def add_into(target: list[Any], values: list[Any], width: int) -> None:
    for index in range(width):
        target[index] += values[index]
    for index in range(width, len(target)):
        mine, theirs = target[index], values[index]
        for bucket in range(len(mine)):
            mine[bucket] += theirs[bucket]


@dataclass
class PartitionState:
    partition: int
    next_offset: int  # first offset not yet in the database
    watermark: int | None  # newest counted event minute
    seen: SeenIds
    pending: Pending
    fenced: bool = False  # another worker wrote this partition: ignore it until reassigned

    @classmethod
    def loaded(
        cls, partition: int, next_offset: int, watermark: int | None, seen: SeenIds
    ) -> PartitionState:
        return cls(partition, next_offset, watermark, seen, Pending(next_offset, next_offset))

    def take_pending(self) -> Pending:
        """Hand the pending batch to the flush; later records start a new one after it."""
        taken = self.pending
        self.pending = Pending(taken.to_offset, taken.to_offset, watermark=None)
        return taken

    def give_back(self, taken: Pending, width: int) -> None:
        """A flush failed: the taken batch goes back in front of what arrived meanwhile."""
        taken.absorb_newer(self.pending, width)
        self.pending = taken

    def committed(self, taken: Pending) -> None:
        self.next_offset = taken.to_offset


@dataclass
class RecordOutcome:
    """What one record produced besides state: the side-channel payloads."""

    rejected: list[Rejected]
    late_raws: list[bytes]


class RecordApplier:
    """Applies records of one feed to partition states (decode once, decide, aggregate)."""

    def __init__(
        self,
        spec: FeedSpec,
        accumulate: Accumulate,
        admission: AdmissionCheck,
        limits: Limits,
        validator: ElementValidator[Any] | None = None,
        archive: bool = True,
    ) -> None:
        self.spec = spec
        self.feed = spec.name
        self.accumulate = accumulate
        self.admission = admission
        self.limits = limits
        self.validator = validator
        self.archive = archive
        self.quick = QUICK_CHECKS[spec.name]
        table = AGGREGATE_TABLES[spec.name]
        self.width = len(table.measures)

    def decode(self, value: bytes | None) -> Decoded[Event]:
        return decode(
            self.spec.model,
            value,
            max_bytes=self.limits.max_record_bytes,
            max_events=self.limits.max_record_events,
            validator=self.validator,
        )

    def apply(
        self, state: PartitionState, key: bytes | None, value: bytes | None, offset: int, now: float
    ) -> RecordOutcome:
        """Everything one record does to the partition's state; `now` is wall-clock epoch s."""
        pending = state.pending
        if pending.empty:
            pending.since = time.monotonic()
        decoded = self.decode(value)
        rejected = list(decoded.rejected)
        late_raws: list[bytes] = []
        agency = key.decode("utf-8", errors="replace") if key else ""
        latest_ts = now + self.limits.max_future_s
        latest = datetime.fromtimestamp(latest_ts, UTC)
        latest_us = int(latest_ts * 1_000_000)
        quick = self.quick
        seen_ids = state.seen
        last = pending.last_event_at
        newest_us = (last - UNIX_EPOCH) // MICROSECOND if last is not None else 0
        watermark = state.watermark
        late_before = None if watermark is None else watermark - self.limits.grace_minutes
        newest = watermark
        pending.events_in += sum(r.events for r in rejected) + len(decoded.events)
        rows = pending.rows
        accumulate = self.accumulate
        archive = pending.archive if self.archive else None
        pending_seen = pending.seen
        max_minute = pending.seen_max_minute
        zone: tzinfo | None = UTC
        epoch = UNIX_EPOCH
        counted = 0
        # The ids of the whole record are searched in the compact id window at once (dedupe).
        digests = [event.event_id.int >> 65 for event in decoded.events]  # dedupe.id_digest
        seen_ids.begin(digests)
        try:
            # One flat pass per event: this loop is most of the worker CPU (docs/performance.md).
            for index, (event, raw, digest) in enumerate(
                zip(decoded.events, decoded.raws, digests, strict=True)
            ):
                occurred_at = event.occurred_at
                if occurred_at.tzinfo is not zone:
                    zone = occurred_at.tzinfo
                    epoch = epoch_in(zone)
                occurred_us = (occurred_at - epoch) // MICROSECOND
                if not (_EARLIEST_US <= occurred_us <= latest_us and quick(event, agency)):
                    verdict = self.admission(event, agency, latest)
                    if verdict is not None:
                        rejected.append(Rejected(verdict[0], verdict[1], raw, index))
                        continue
                minute = occurred_us // _MINUTE_US
                if late_before is not None and minute < late_before:
                    # Late events are not remembered; a duplicate of one is a duplicate if counted.
                    if seen_ids.check(digest, content_digest(raw)) is Seen.DUPLICATE:
                        pending.duplicates += 1
                    else:
                        late_raws.append(raw)
                    continue
                packed = seen_ids.offer(digest, content_digest(raw), minute)
                if packed < 0:
                    if packed == DUPLICATE:
                        pending.duplicates += 1
                    else:
                        detail = f"event_id {event.event_id} was already counted with other content"
                        rejected.append(
                            Rejected(RejectReason.CONFLICTING_DUPLICATE, detail, raw, index)
                        )
                    continue
                pending_seen.append(digest)
                pending_seen.append(packed)
                if minute > max_minute:
                    max_minute = minute
                accumulate(rows, minute, event)
                if archive is not None:
                    archive.append((occurred_us, event.agency, event.event_id, raw))
                counted += 1
                if occurred_us > newest_us:
                    newest_us = occurred_us
                    pending.last_event_at = occurred_at
        finally:
            seen_ids.end()
        pending.counted += counted
        pending.seen_max_minute = max_minute
        if counted and (newest is None or max_minute > newest):
            newest = max_minute
        pending.late += len(late_raws)
        for bad in rejected:
            pending.rejects[bad.reason] += bad.events
        if newest is not None and newest != watermark:
            state.watermark = pending.watermark = newest
        pending.to_offset = offset + 1
        return RecordOutcome(rejected, late_raws)
