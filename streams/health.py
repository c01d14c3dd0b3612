"""Pipeline health: what each flush adds to `pipeline_health` and `pipeline_rejects`.

The counters of a flush come from the same pending batches as the data, and are written in the
same transaction, so they are exact: events in = counted + late + duplicates + invalid (+ events
the database refused, `quarantined`). Rows are per wall-clock minute, feed and worker, and add up
across flushes; gauges (newest event time, flush latency, consumer lag) keep the latest or
greatest value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from govpulse.db.tables import (
    PIPELINE_HEALTH,
    PIPELINE_HEALTH_COLUMNS,
    PIPELINE_REJECTS,
    PIPELINE_REJECTS_COLUMNS,
)
from streams.partition import Pending

_ADDITIVE = ("events_in", "invalid", "late", "duplicates", "counted", "quarantined")
_GREATEST = ("last_event_at", "flush_latency_ms_max")


def health_statement(schema: str) -> sql.Composed:
    key = ("bucket", "feed", "worker")
    table = sql.Identifier(PIPELINE_HEALTH)

    def assignment(column: str) -> sql.Composed:
        name = sql.Identifier(column)
        if column in _ADDITIVE:
            return sql.SQL("{c} = {t}.{c} + EXCLUDED.{c}").format(c=name, t=table)
        if column in _GREATEST:
            return sql.SQL("{c} = GREATEST({t}.{c}, EXCLUDED.{c})").format(c=name, t=table)
        return sql.SQL("{c} = EXCLUDED.{c}").format(c=name)

    return sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {sets}"
    ).format(
        table=sql.Identifier(schema, PIPELINE_HEALTH),
        columns=sql.SQL(", ").join(map(sql.Identifier, PIPELINE_HEALTH_COLUMNS)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(PIPELINE_HEALTH_COLUMNS)),
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        sets=sql.SQL(", ").join(assignment(c) for c in PIPELINE_HEALTH_COLUMNS if c not in key),
    )


def rejects_statement(schema: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) "
        "ON CONFLICT (bucket, feed, worker, reason) "
        "DO UPDATE SET events = {t}.events + EXCLUDED.events, updated_at = now()"
    ).format(
        table=sql.Identifier(schema, PIPELINE_REJECTS),
        t=sql.Identifier(PIPELINE_REJECTS),
        columns=sql.SQL(", ").join(map(sql.Identifier, PIPELINE_REJECTS_COLUMNS)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(PIPELINE_REJECTS_COLUMNS)),
    )


def minute_of(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def health_row(
    feed: str,
    worker: str,
    now: datetime,
    parts: Iterable[Pending],
    flush_latency_ms: int,
    consumer_lag: int | None,
) -> tuple[Any, ...]:
    """One pipeline_health row (PIPELINE_HEALTH_COLUMNS order) for a feed's pending batches."""
    events_in = invalid = late = duplicates = counted = 0
    newest: datetime | None = None
    for pending in parts:
        events_in += pending.events_in
        invalid += pending.invalid
        late += pending.late
        duplicates += pending.duplicates
        counted += pending.counted
        if pending.last_event_at and (newest is None or pending.last_event_at > newest):
            newest = pending.last_event_at
    return (
        minute_of(now), feed, worker, events_in, invalid, late, duplicates, newest,
        flush_latency_ms, consumer_lag, now, counted, 0,
    )  # fmt: skip


def reject_rows(
    feed: str, worker: str, now: datetime, parts: Iterable[Pending]
) -> list[tuple[Any, ...]]:
    total: Counter[str] = Counter()
    for pending in parts:
        for reason, events in pending.rejects.items():
            total[reason.value] += events
    minute = minute_of(now)
    return [(minute, feed, worker, reason, events) for reason, events in sorted(total.items())]
