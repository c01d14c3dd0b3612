"""Replaying recorded traffic into a namespace: sources, pacing, and the replay loop.

A source yields elements in its own order (a recording's file order, which is arrival order;
the archive's event-time order). Replay keeps that order, so every key keeps its order, and never
touches the events: their ids and event times are those of the original traffic, which is what
makes a replay deterministic and a second replay change nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from connectors.clock import Clock
from connectors.faults import Outgoing
from connectors.runner import Sink
from govpulse.recording import read_recording
from govpulse.settings import DatabaseSettings, KafkaSettings, check_namespace
from govpulse.topics import select_feeds


def _in_window(timestamp_ms: int, since: datetime | None, until: datetime | None) -> bool:
    if since is not None and timestamp_ms < since.timestamp() * 1000:
        return False
    return not (until is not None and timestamp_ms >= until.timestamp() * 1000)


def recording_source(
    path: Path,
    feeds: set[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Outgoing]:
    """The lines of a recording as elements, in file order, filtered by feed and event time."""
    for line in read_recording(path):
        if feeds and line.topic not in feeds:
            continue
        if not _in_window(line.timestamp, since, until):
            continue
        yield Outgoing(line.topic, line.key, line.timestamp, orjson.dumps(line.value))


def _archive_filter(
    feeds: set[str] | None, since: datetime | None, until: datetime | None
) -> tuple[sql.Composable, list[Any]]:
    conditions: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if feeds:
        conditions.append(sql.SQL("feed = ANY(%s)"))
        params.append(sorted(feeds))
    if since is not None:
        conditions.append(sql.SQL("occurred_at >= %s"))
        params.append(since)
    if until is not None:
        conditions.append(sql.SQL("occurred_at < %s"))
        params.append(until)
    return sql.SQL(" AND ").join(conditions), params


def archive_source(
    db: DatabaseSettings,
    namespace: str,
    feeds: set[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_rows: int = 5_000,
) -> Iterator[Outgoing]:
    """A namespace's raw-event archive in event-time order, read with a server-side cursor."""
    where, params = _archive_filter(feeds, since, until)
    statement = sql.SQL(
        "SELECT feed, agency, occurred_at, payload::text FROM {table} WHERE {where} "
        "ORDER BY occurred_at, feed, event_id"
    ).format(table=sql.Identifier(namespace, "raw_events"), where=where)
    with psycopg.connect(db.conninfo()) as conn, conn.cursor(name="replay_archive") as cursor:
        cursor.itersize = batch_rows
        cursor.execute(statement, params)
        for feed, agency, occurred_at, payload in cursor:
            yield Outgoing(feed, agency, int(occurred_at.timestamp() * 1000), payload.encode())


def count_archive(
    db: DatabaseSettings,
    namespace: str,
    feeds: set[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    where, params = _archive_filter(feeds, since, until)
    statement = sql.SQL("SELECT count(*) FROM {table} WHERE {where}").format(
        table=sql.Identifier(namespace, "raw_events"), where=where
    )
    with psycopg.connect(db.conninfo()) as conn:
        row = conn.execute(statement, params).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class ReplaySource:
    elements: Iterable[Outgoing]
    total: int | None  # known up front for the archive only (a progress bar's length)


def open_source(
    spec: str,
    into: str,
    kafka: KafkaSettings,
    db: DatabaseSettings,
    feeds: set[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> ReplaySource:
    """The source a replay names: `archive:NAMESPACE`, `kafka:NAMESPACE` or a recording file.

    ValueError when the name is not a namespace, a namespace would replay into itself (`into`),
    or no recording file is there.
    """
    if spec.startswith("archive:"):
        origin = check_namespace(spec.removeprefix("archive:"))
        total = count_archive(db, origin, feeds, since, until)
        return ReplaySource(archive_source(db, origin, feeds, since, until), total)
    if spec.startswith("kafka:"):
        from connectors.kafka_source import kafka_source

        origin = spec.removeprefix("kafka:")
        if origin == into:
            raise ValueError("a namespace cannot be replayed into itself")
        check_namespace(origin)
        return ReplaySource(
            kafka_source(kafka, origin, select_feeds(sorted(feeds)), since, until), None
        )
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"no recording at {path}")
    return ReplaySource(recording_source(path, feeds, since, until), None)


@dataclass
class ReplayProgress:
    events: int = 0
    elapsed_s: float = 0.0
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    per_feed: dict[str, int] = field(default_factory=dict)
    stopped: bool = False

    @property
    def rate(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


def replay(
    source: Iterable[Outgoing],
    sink: Sink,
    clock: Clock,
    speed: float | None,
    stop: threading.Event | None = None,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    progress_every_s: float = 0.5,
) -> ReplayProgress:
    """Send every element; with a `speed`, event time advances `speed` times the wall clock.

    Pacing follows the newest event time seen, so an element that arrived late in the original
    traffic is sent at once, as it was, and never holds the others back.
    """
    stop = stop or threading.Event()
    progress = ReplayProgress()
    wall0 = clock.monotonic()
    next_report = wall0
    newest: int | None = None
    for out in source:
        if newest is None:
            newest = out.timestamp_ms
            progress.first_event_ms = out.timestamp_ms
        if speed is not None and out.timestamp_ms > newest:
            newest = out.timestamp_ms
            assert progress.first_event_ms is not None
            due = wall0 + (newest - progress.first_event_ms) / 1000 / speed
            while (now := clock.monotonic()) < due and not stop.is_set():
                sink.poll()
                clock.sleep(min(due - now, 0.05))
        if stop.is_set():
            progress.stopped = True
            break
        sink.send(out)
        progress.events += 1
        progress.per_feed[out.feed] = progress.per_feed.get(out.feed, 0) + 1
        progress.last_event_ms = out.timestamp_ms
        if progress.events % 512 == 0:
            sink.poll()
            now = clock.monotonic()
            if on_progress and now >= next_report:
                progress.elapsed_s = now - wall0
                on_progress(progress)
                next_report = now + progress_every_s
    progress.elapsed_s = clock.monotonic() - wall0
    return progress
