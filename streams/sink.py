"""Writing to the database: bucket rows (absolute upserts), the raw-event archive, health.

Every write is one transaction of parameterised statements (identifiers through `psycopg.sql`).
A failed write raises `SinkUnavailable` after dropping the connection; the caller keeps its data
and tries again later, so an outage delays rows but never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from govpulse.db.tables import (
    AGGREGATE_TABLES,
    PIPELINE_HEALTH,
    PIPELINE_HEALTH_COLUMNS,
    RAW_EVENTS,
    AggregateTable,
)
from govpulse.settings import DatabaseSettings

log = logging.getLogger(__name__)

# Health counters add up across flushes and workers' restarts; they are operational figures,
# at least once, unlike the aggregates, which are exact.
_HEALTH_ADDITIVE = ("events_in", "invalid", "late", "duplicates")


class SinkUnavailable(RuntimeError):
    """The database did not take a write; the message is one line without secrets."""


def upsert_statement(schema: str, table: AggregateTable) -> sql.Composed:
    columns = table.columns
    updates = [*table.measures, *table.histograms]
    return sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now()"
    ).format(
        table=sql.Identifier(schema, table.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
        ),
    )


def archive_statement(schema: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {table} (occurred_at, feed, agency, event_id, payload) "
        "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING"
    ).format(table=sql.Identifier(schema, RAW_EVENTS))


def health_statement(schema: str) -> sql.Composed:
    key = ("bucket", "feed", "worker")
    table = sql.Identifier(PIPELINE_HEALTH)

    def assignment(column: str) -> sql.Composed:
        name = sql.Identifier(column)
        if column in _HEALTH_ADDITIVE:
            return sql.SQL("{c} = {t}.{c} + EXCLUDED.{c}").format(c=name, t=table)
        if column in ("last_event_at", "flush_latency_ms_max"):
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


class DatabaseSink:
    """One async connection per sink, opened on first use and after every failure.

    A connection serves one transaction at a time: give each concurrent writer (the flush loop,
    each archiver) a sink of its own; the lock only guards against misuse.
    """

    def __init__(self, settings: DatabaseSettings, schema: str) -> None:
        self.settings = settings
        self.schema = schema
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._upserts = {feed: upsert_statement(schema, t) for feed, t in AGGREGATE_TABLES.items()}
        self._archive = archive_statement(schema)
        self._health = health_statement(schema)
        self._lock = asyncio.Lock()

    async def upsert_buckets(self, feed: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._write(self._upserts[feed], rows)

    async def archive(self, rows: Sequence[Sequence[Any]]) -> None:
        await self._write(self._archive, rows)

    async def health(self, rows: Sequence[Sequence[Any]]) -> None:
        await self._write(self._health, rows)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _write(self, statement: sql.Composed, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            async with self._lock:
                connection = await self._connect()
                async with connection.transaction(), connection.cursor() as cursor:
                    await cursor.executemany(statement, rows)
        except psycopg.Error as exc:
            await self._drop()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SinkUnavailable(
                f"database write failed at {self.settings.describe()}: {reason}"
            ) from exc

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.settings.conninfo(), autocommit=True
            )
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
