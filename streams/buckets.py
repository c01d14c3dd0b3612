"""The state of one (feed, agency, minute) bucket and the decisions taken on each event.

A bucket holds every row of its minute (one per combination of dimensions) with absolute measures
and histograms, and the digests of the event ids it has counted, so a duplicate or a record
reprocessed after a restart is counted once. The state is a plain JSON-able dict: it travels
through the Faust table's changelog as is.

Pure functions, no I/O: the agent calls `apply_events`, the sink calls `rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import Event
from streams.measures import CONTRIBUTIONS

BucketState = dict[str, Any]
"""{"p": source partition, "rows": {dimension key: [measures..., histograms...]}, "ids": [...]}"""

DIMENSION_SEPARATOR = "\x1f"


def minute_of(moment: datetime) -> int:
    """Event time's minute since the epoch: the bucket number."""
    return int(moment.timestamp() // 60)


def bucket_key(agency: str, minute: int) -> str:
    return f"{agency}|{minute}"


def parse_bucket_key(key: str) -> tuple[str, int]:
    agency, minute = key.rsplit("|", 1)
    return agency, int(minute)


def id_digest(event_id: UUID) -> int:
    # 63 bits keep the digest a portable JSON integer; two events of one bucket share a digest
    # with odds below 1e-11 even at 10,000 events a bucket.
    return event_id.int >> 65


def new_state(partition: int) -> BucketState:
    return {"p": partition, "rows": {}, "ids": []}


@dataclass
class Outcome:
    """What happened to a batch of events in one bucket."""

    counted: list[Event] = field(default_factory=list)
    duplicates: list[Event] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)


def is_late(minute: int, watermark_minute: int | None, grace_minutes: int) -> bool:
    """A bucket is closed once the partition's newest event time is more than the grace later."""
    return watermark_minute is not None and minute < watermark_minute - grace_minutes


def apply_events(
    feed: str,
    state: BucketState,
    events: Iterable[Event],
    late: bool,
    seen: set[int] | None = None,
) -> Outcome:
    """Add new events to the bucket; duplicates are skipped, and a late bucket takes nothing.

    `seen` is the caller's cached set of the state's id digests (kept in step with `state`).
    """
    contribution = CONTRIBUTIONS[feed]
    table = AGGREGATE_TABLES[feed]
    width = len(table.measures)
    ids: list[int] = state["ids"]
    known = seen if seen is not None else set(ids)
    rows: dict[str, list[Any]] = state["rows"]
    outcome = Outcome()
    for event in events:
        digest = id_digest(event.event_id)
        if digest in known:
            outcome.duplicates.append(event)
            continue
        if late:
            outcome.late.append(event)
            continue
        known.add(digest)
        ids.append(digest)
        part = contribution(event)
        key = DIMENSION_SEPARATOR.join(str(d) for d in part.dimensions)
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0] * width + [histogram.empty() for _ in table.histograms]
        for index, value in enumerate(part.measures):
            row[index] += value
        for offset, sample in enumerate(part.histogram_values):
            if sample is not None:
                row[width + offset][histogram.bucket_of(sample)] += 1
        outcome.counted.append(event)
    return outcome


def rows(feed: str, key: str, state: BucketState) -> Iterator[tuple[Any, ...]]:
    """The database rows of a bucket, in `AggregateTable.columns` order."""
    table = AGGREGATE_TABLES[feed]
    agency, minute = parse_bucket_key(key)
    bucket = datetime.fromtimestamp(minute * 60, UTC)
    integer_dims = [d == "protection_level" for d in table.dimensions]
    for dims_key, values in state["rows"].items():
        dims = dims_key.split(DIMENSION_SEPARATOR)
        typed = [int(d) if is_int else d for d, is_int in zip(dims, integer_dims, strict=True)]
        yield (bucket, agency, *typed, *values)
