"""Reading a partition's state back from the database when a worker takes the partition over.

The database is the only state (design.md, "Processing semantics", design (b)): the next offset
to apply, the watermark, and the ids counted within the grace window. Nothing comes back from a
Faust changelog, so a restart cannot crash-loop on stored state.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from govpulse.settings import DatabaseSettings
from streams.dedupe import SeenIds, unpack
from streams.partition import SEEN_MARGIN_MINUTES, PartitionState
from streams.sink import SinkUnavailable, one_line

log = logging.getLogger(__name__)


class StateStore:
    def __init__(self, settings: DatabaseSettings, schema: str, grace_minutes: int) -> None:
        self.settings = settings
        self.grace_minutes = grace_minutes
        offsets = sql.Identifier(schema, "stream_offsets")
        self._claim = sql.SQL(
            "INSERT INTO {t} (topic, partition) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(t=offsets)
        self._offsets = sql.SQL(
            "SELECT next_offset, watermark_minute FROM {t} WHERE topic = %s AND partition = %s"
        ).format(t=offsets)
        self._seen = sql.SQL(
            "SELECT entries FROM {t} WHERE topic = %s AND partition = %s AND max_minute >= %s"
        ).format(t=sql.Identifier(schema, "seen_ids"))
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def load(self, topic: str, partition: int) -> PartitionState:
        """The partition as the database has it; raises `SinkUnavailable` while it cannot say."""
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = await psycopg.AsyncConnection.connect(
                    self.settings.conninfo(), autocommit=True
                )
            await connection.execute(self._claim, (topic, partition))
            cursor = await connection.execute(self._offsets, (topic, partition))
            row = await cursor.fetchone()
            assert row is not None
            next_offset, watermark = int(row[0]), row[1]
            seen = SeenIds()
            if watermark is not None:
                horizon = int(watermark) - self.grace_minutes - SEEN_MARGIN_MINUTES
                cursor = await connection.execute(self._seen, (topic, partition, horizon))
                for (blob,) in await cursor.fetchall():
                    seen.load(unpack(bytes(blob)))
                seen.evict_before(horizon)
        except psycopg.Error as exc:
            connection, self._connection = self._connection, None
            if connection is not None:
                await connection.close()
            raise SinkUnavailable(
                f"reading the state of {topic}[{partition}] failed at "
                f"{self.settings.describe()}: {one_line(exc)}"
            ) from exc
        log.info(
            "%s[%d]: resuming at offset %d, watermark %s, %d ids known",
            topic, partition, next_offset, watermark, len(seen),
        )  # fmt: skip
        return PartitionState.loaded(
            partition, next_offset, None if watermark is None else int(watermark), seen
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
