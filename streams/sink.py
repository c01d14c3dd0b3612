"""Writing a flush to the database: one transaction, additive, fenced by stored offsets.

A flush holds, per feed and partition, the aggregate deltas, raw-archive rows, counted event ids,
health counters and the partition's new next offset. They are written together: COPY (binary)
into temporary staging tables, then one `INSERT … SELECT … ON CONFLICT DO UPDATE SET m = m +
EXCLUDED.m` per table, so a flush costs a handful of statements whatever its size. The offsets
update only rows whose stored offset is the one the batch started from: a worker that lost a
partition without noticing (a zombie) finds its rows fenced off and writes nothing of them.

The raw archive is the exception: it is copied over a second connection, at the same time as
the rest, and committed just before it (the main transaction waits for it). PostgreSQL then
works on the two on both cores instead of one after the other, which is most of what a flush
costs (docs/performance.md, sixteenth session). Exactly once still holds because the archive is
idempotent by its key: an archive that committed while its offsets did not (a crash between the
two commits, a zombie fenced off) holds events that whoever reads those records again archives
again, and that COPY meets the key and takes the staged path that skips what the archive holds.
The aggregates, which are not idempotent, stay in the transaction with the offsets. When the
archive cannot commit, the main transaction rolls back with it and the flush is retried whole.

Failures: connection trouble raises `SinkUnavailable` (the caller keeps its data and retries); a
partition fenced off raises `Fenced` (the caller drops that partition's batch, which its new owner
reads again); a row the database refuses (a constraint, an overflow) makes the flush retry row by
row, and refused rows go to `quarantine` with the reason instead of blocking the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from govpulse.db.tables import (
    AGGREGATE_TABLES,
    PIPELINE_HEALTH_COLUMNS,
    AggregateTable,
)
from govpulse.settings import DatabaseSettings
from streams.copy_binary import ARCHIVE_COLUMNS, AggregateEncoder, Archived, ArchiveEncoder
from streams.dedupe import pack
from streams.health import health_statement, rejects_statement
from streams.partition import MICROSECOND, UNIX_EPOCH, Pending, RowKey, add_into

log = logging.getLogger(__name__)

_REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


class SinkUnavailable(RuntimeError):
    """The database did not take a write; the message is one line without secrets."""


class Fenced(RuntimeError):
    """Stored offsets moved under these (topic, partition): another worker owns them now."""

    def __init__(self, partitions: set[tuple[str, int]]) -> None:
        super().__init__(f"partitions written by another worker: {sorted(partitions)}")
        self.partitions = partitions


@dataclass
class FeedBatch:
    """One feed's share of a flush."""

    feed: str
    topic: str
    parts: dict[int, Pending]

    def merged_rows(self) -> dict[RowKey, list[Any]]:
        """Deltas of every partition summed by row (a hostile producer may send one agency's key
        to two partitions; one INSERT must not touch a row twice)."""
        if len(self.parts) == 1:
            return next(iter(self.parts.values())).rows
        width = len(AGGREGATE_TABLES[self.feed].measures)
        merged: dict[RowKey, list[Any]] = {}
        copied: set[RowKey] = set()
        for pending in self.parts.values():
            for key, values in pending.rows.items():
                mine = merged.get(key)
                if mine is None:
                    merged[key] = values  # shared until a second partition adds to it
                    continue
                if key not in copied:
                    # Never add into a pending batch's own row: a failed flush gives it back.
                    mine = merged[key] = [v[:] if isinstance(v, list) else v for v in mine]
                    copied.add(key)
                add_into(mine, values, width)
        return merged


@dataclass
class FlushResult:
    rows: int = 0
    archived: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # feed -> events


def _rows(table: AggregateTable, rows: dict[RowKey, list[Any]]) -> list[tuple[Any, ...]]:
    """Database rows in `table.columns` order (dimensions are already typed by the measures)."""
    buckets: dict[int, datetime] = {}
    out = []
    for (minute, *rest), values in rows.items():
        bucket = buckets.get(minute)
        if bucket is None:
            bucket = buckets[minute] = datetime.fromtimestamp(minute * 60, UTC)
        out.append((bucket, *rest, *values))
    return out


class Statements:
    """The SQL of one namespace, composed once."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.stage_tables = {
            feed: sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(stage=sql.Identifier(f"stage_{t.name}"), table=sql.Identifier(schema, t.name))
            for feed, t in AGGREGATE_TABLES.items()
        }
        self.copy_rows = {
            feed: sql.SQL("COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)").format(
                stage=sql.Identifier(f"stage_{t.name}"),
                columns=sql.SQL(", ").join(map(sql.Identifier, t.columns)),
            )
            for feed, t in AGGREGATE_TABLES.items()
        }
        self.merge_rows = {
            feed: self._merge(t, from_stage=True) for feed, t in AGGREGATE_TABLES.items()
        }
        self.insert_row = {
            feed: self._merge(t, from_stage=False) for feed, t in AGGREGATE_TABLES.items()
        }
        # The archive is copied straight into its table: staging it and inserting with ON
        # CONFLICT cost PostgreSQL 40% more per event (docs/performance.md, ninth session).
        archive_columns = sql.SQL(", ").join(map(sql.Identifier, ARCHIVE_COLUMNS))
        self.copy_raw = sql.SQL("COPY {raw} ({columns}) FROM STDIN (FORMAT BINARY)").format(
            raw=sql.Identifier(schema, "raw_events"), columns=archive_columns
        )
        # Only when that finds an event already archived (see DatabaseSink._copy_archive).
        self.stage_raw = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS stage_raw_events (occurred_at timestamptz, "
            "feed text, agency text, event_id uuid, payload jsonb) ON COMMIT DELETE ROWS"
        )
        self.copy_staged_raw = sql.SQL(
            "COPY stage_raw_events ({columns}) FROM STDIN (FORMAT BINARY)"
        ).format(columns=archive_columns)
        self.merge_raw = sql.SQL(
            "INSERT INTO {raw} (occurred_at, feed, agency, event_id, payload) "
            "SELECT occurred_at, feed, agency, event_id, payload FROM stage_raw_events "
            "ON CONFLICT DO NOTHING"
        ).format(raw=sql.Identifier(schema, "raw_events"))
        self.insert_raw = sql.SQL(
            "INSERT INTO {raw} (occurred_at, feed, agency, event_id, payload) "
            "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING"
        ).format(raw=sql.Identifier(schema, "raw_events"))
        self.advance_offsets = sql.SQL(
            "UPDATE {offsets} AS o SET next_offset = v.to_offset, "
            "watermark_minute = coalesce(v.watermark, o.watermark_minute), updated_at = now() "
            "FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS v(topic, partition, from_offset, to_offset, watermark) "
            "WHERE o.topic = v.topic AND o.partition = v.partition "
            "AND o.next_offset = v.from_offset RETURNING o.topic, o.partition"
        ).format(offsets=sql.Identifier(schema, "stream_offsets"))
        self.insert_seen = sql.SQL(
            "INSERT INTO {seen} (topic, partition, max_minute, entries) VALUES (%s, %s, %s, %s)"
        ).format(seen=sql.Identifier(schema, "seen_ids"))
        self.prune_seen = sql.SQL(
            "DELETE FROM {seen} WHERE topic = %s AND partition = %s AND max_minute < %s"
        ).format(seen=sql.Identifier(schema, "seen_ids"))
        self.upsert_health = health_statement(schema)
        self.upsert_rejects = rejects_statement(schema)
        self.quarantine = sql.SQL(
            "INSERT INTO {q} (feed, target, reason, events, row_data) VALUES (%s, %s, %s, %s, %s)"
        ).format(q=sql.Identifier(schema, "quarantine"))

    def _merge(self, table: AggregateTable, from_stage: bool) -> sql.Composed:
        target = sql.Identifier(table.name)
        updates = [
            sql.SQL("{c} = {t}.{c} + EXCLUDED.{c}").format(c=sql.Identifier(c), t=target)
            for c in table.measures
        ] + [
            sql.SQL("{c} = reference.hist_add({t}.{c}, EXCLUDED.{c})").format(
                c=sql.Identifier(c), t=target
            )
            for c in table.histograms
        ]
        columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
        source = (
            sql.SQL("SELECT {columns} FROM {stage}").format(
                columns=columns, stage=sql.Identifier(f"stage_{table.name}")
            )
            if from_stage
            else sql.SQL("VALUES ({})").format(
                sql.SQL(", ").join(sql.Placeholder() * len(table.columns))
            )
        )
        return sql.SQL(
            "INSERT INTO {table} AS {t} ({columns}) {source} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now()"
        ).format(
            table=sql.Identifier(self.schema, table.name),
            t=target,
            columns=columns,
            source=source,
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
            updates=sql.SQL(", ").join(updates),
        )


class DatabaseSink:
    """Two connections for flushes (the archive has its own), opened on first use and after every
    failure."""

    def __init__(self, settings: DatabaseSettings, schema: str) -> None:
        self.settings = settings
        self.schema = schema
        self.statements = Statements(schema)
        self.encoders = {feed: AggregateEncoder(table) for feed, table in AGGREGATE_TABLES.items()}
        self.archive_encoder = ArchiveEncoder()
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._archive_connection: psycopg.AsyncConnection[Any] | None = None

    async def write(
        self,
        batches: Sequence[FeedBatch],
        health: Sequence[Sequence[Any]],
        rejects: Sequence[Sequence[Any]],
        prune_before: dict[tuple[str, int], int],
    ) -> FlushResult:
        """Write one flush in one transaction (see the module docstring for what may be raised).

        `health` rows are written as given, except that events quarantined here are added to
        their feed's `quarantined` and taken off its `counted` (see `health_adjust`).
        """
        try:
            connection = await self._connect()
            try:
                return await self._write(
                    connection, batches, health, rejects, prune_before, careful=False
                )
            except _REFUSED as exc:
                log.warning("the database refused a row (%s); writing row by row", one_line(exc))
                return await self._write(
                    connection, batches, health, rejects, prune_before, careful=True
                )
        except Fenced:
            raise
        except psycopg.Error as exc:
            await self._drop()
            raise SinkUnavailable(
                f"database write failed at {self.settings.describe()}: {one_line(exc)}"
            ) from exc

    async def _write(
        self,
        connection: psycopg.AsyncConnection[Any],
        batches: Sequence[FeedBatch],
        health: Sequence[Sequence[Any]],
        rejects: Sequence[Sequence[Any]],
        prune_before: dict[tuple[str, int], int],
        careful: bool,
    ) -> FlushResult:
        result = FlushResult()
        # Row by row (careful), the archive goes with the rest, row by row, in this transaction.
        archiving = None if careful else await self._start_archive(batches)
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                await self._write_rest(cursor, batches, health, rejects, prune_before,
                                       careful, result)  # fmt: skip
                if archiving is not None:
                    # The archive commits first: offsets never pass an archive that is not there.
                    await archiving
        finally:
            if archiving is not None:
                # When the main transaction failed first, the archive still ends before the
                # flush is retried (what it commits is idempotent, see the module docstring);
                # its own failure, if any, is the one already raised or one the retry meets.
                with contextlib.suppress(Exception):
                    await archiving
        return result

    async def _start_archive(self, batches: Sequence[FeedBatch]) -> asyncio.Task[None] | None:
        if not any(pending.archive for batch in batches for pending in batch.parts.values()):
            return None
        connection = await self._connect_archive()

        async def archive() -> None:
            async with connection.transaction(), connection.cursor() as cursor:
                await self._copy_archive(cursor, batches)

        return asyncio.create_task(archive())

    async def _write_rest(
        self,
        cursor: Any,
        batches: Sequence[FeedBatch],
        health: Sequence[Sequence[Any]],
        rejects: Sequence[Sequence[Any]],
        prune_before: dict[tuple[str, int], int],
        careful: bool,
        result: FlushResult,
    ) -> None:
        s = self.statements
        await self._advance_offsets(cursor, batches)
        for batch in batches:
            table = AGGREGATE_TABLES[batch.feed]
            merged = batch.merged_rows()
            archived = sum(len(pending.archive) for pending in batch.parts.values())
            if careful:
                archive = [row for pending in batch.parts.values() for row in pending.archive]
                rows = _rows(table, merged)
                refused = await self._insert_one_by_one(cursor, batch, table, rows, archive)
                if refused:
                    result.quarantined[batch.feed] = refused
            else:
                await self._copy_and_merge(cursor, batch.feed, merged)
            result.rows += len(merged)
            result.archived += archived
            for partition, pending in batch.parts.items():
                if len(pending.seen):
                    await cursor.execute(
                        s.insert_seen,
                        (batch.topic, partition, pending.seen_max_minute, pack(pending.seen)),
                    )
        for (topic, partition), horizon in prune_before.items():
            await cursor.execute(s.prune_seen, (topic, partition, horizon))
        health_rows = health_adjust(health, result.quarantined)
        if health_rows:
            await cursor.executemany(s.upsert_health, health_rows)
        if rejects:
            await cursor.executemany(s.upsert_rejects, rejects)

    async def _advance_offsets(self, cursor: Any, batches: Sequence[FeedBatch]) -> None:
        wanted = [
            (batch.topic, partition, pending.from_offset, pending.to_offset, pending.watermark)
            for batch in batches
            for partition, pending in batch.parts.items()
        ]
        if not wanted:
            return
        columns = list(zip(*wanted, strict=True))
        await cursor.execute(self.statements.advance_offsets, [list(c) for c in columns])
        advanced = {(topic, partition) for topic, partition in await cursor.fetchall()}
        missing = {(topic, partition) for topic, partition, *_ in wanted} - advanced
        if missing:
            raise Fenced(missing)

    async def _copy_and_merge(self, cursor: Any, feed: str, rows: dict[RowKey, list[Any]]) -> None:
        if not rows:
            return
        s = self.statements
        await cursor.execute(s.stage_tables[feed])
        async with cursor.copy(s.copy_rows[feed]) as copy:
            for chunk in self.encoders[feed].chunks(rows):
                await copy.write(chunk)
        await cursor.execute(s.merge_rows[feed])

    async def _copy_archive(self, cursor: Any, batches: Sequence[FeedBatch]) -> None:
        """Every feed's archive rows in one COPY into the archive table.

        The stored offsets and the id window keep an event from being archived twice, except
        when a producer put the same event under two partitions (each has its own window) or
        when an earlier archive committed without its offsets (see the module docstring): the
        COPY then meets the primary key. Inside a savepoint, that costs one retry through a
        staging table whose INSERT skips what the archive holds (the aggregates count such an
        event once per partition, as they always did); any other refusal goes to the caller.
        """
        s = self.statements
        try:
            async with cursor.connection.transaction():
                await self._copy_archive_rows(cursor, s.copy_raw, batches)
        except psycopg.errors.UniqueViolation as exc:
            log.warning("an event archived twice (%s); skipping what the archive holds",
                        one_line(exc))  # fmt: skip
            await cursor.execute(s.stage_raw)
            await self._copy_archive_rows(cursor, s.copy_staged_raw, batches)
            await cursor.execute(s.merge_raw)

    async def _copy_archive_rows(
        self, cursor: Any, statement: sql.Composable, batches: Sequence[FeedBatch]
    ) -> None:
        entries = (
            (batch.feed, pending.archive) for batch in batches for pending in batch.parts.values()
        )
        async with cursor.copy(statement) as copy:
            for chunk in self.archive_encoder.chunks(entries):
                await copy.write(chunk)

    async def _insert_one_by_one(
        self,
        cursor: Any,
        batch: FeedBatch,
        table: AggregateTable,
        rows: list[tuple[Any, ...]],
        archive: list[Archived],
    ) -> int:
        """The slow path after a refusal: each row in its own savepoint; returns events refused."""
        s = self.statements
        refused = 0
        connection = cursor.connection
        for row in rows:
            try:
                async with connection.transaction():
                    await cursor.execute(s.insert_row[batch.feed], row)
            except _REFUSED as exc:
                events = int(row[len(table.key)])  # the first measure counts events
                refused += events
                await cursor.execute(
                    s.quarantine, (batch.feed, table.name, one_line(exc), events, repr(row))
                )
        for occurred_us, agency, event_id, raw in archive:
            occurred_at = UNIX_EPOCH + occurred_us * MICROSECOND
            try:
                async with connection.transaction():
                    await cursor.execute(
                        s.insert_raw, (occurred_at, batch.feed, agency, event_id, raw.decode())
                    )
            except _REFUSED as exc:
                await cursor.execute(
                    s.quarantine, (batch.feed, "raw_events", one_line(exc), 0, raw.decode())
                )
        return refused

    async def close(self) -> None:
        await self._drop()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        self._connection = await self._open(self._connection)
        return self._connection

    async def _connect_archive(self) -> psycopg.AsyncConnection[Any]:
        self._archive_connection = await self._open(self._archive_connection)
        return self._archive_connection

    async def _open(
        self, connection: psycopg.AsyncConnection[Any] | None
    ) -> psycopg.AsyncConnection[Any]:
        """`connection` while it is open, else a new one."""
        if connection is None or connection.closed:
            return await psycopg.AsyncConnection.connect(self.settings.conninfo())
        return connection

    async def _drop(self) -> None:
        connections = (self._connection, self._archive_connection)
        self._connection = self._archive_connection = None
        for connection in connections:
            if connection is not None:
                try:
                    await connection.close()
                except psycopg.Error:
                    log.debug("closing a broken connection failed", exc_info=True)


def health_adjust(
    health: Iterable[Sequence[Any]], quarantined: dict[str, int]
) -> list[Sequence[Any]]:
    """Move quarantined events of a feed from `counted` to `quarantined` in its health row."""
    counted = PIPELINE_HEALTH_COLUMNS.index("counted")
    column = PIPELINE_HEALTH_COLUMNS.index("quarantined")
    feed_column = PIPELINE_HEALTH_COLUMNS.index("feed")
    adjusted: list[Sequence[Any]] = []
    for row in health:
        moved = quarantined.pop(row[feed_column], 0)
        if moved:
            values = list(row)
            values[counted] -= moved
            values[column] += moved
            row = tuple(values)
        adjusted.append(row)
    return adjusted


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
