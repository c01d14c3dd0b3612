"""The raw-event archive: every valid event of a feed, kept for replay and drill-down lists.

A second agent on the feed's topic takes records in batches and writes them before asking for
more, so a record is acknowledged only once its events are in the database (at least once; the
primary key makes a repeat harmless). While the database is down it waits and retries: the
stream backs up in Kafka rather than losing anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import faust

from govpulse.codec import decode
from govpulse.topics import FeedSpec
from streams.sink import DatabaseSink, SinkUnavailable

log = logging.getLogger(__name__)

RETRY_MAX_S = 30.0


class FeedArchiver:
    def __init__(
        self,
        app: faust.App,
        topic: faust.TopicT,
        spec: FeedSpec,
        sink: DatabaseSink,
        batch_records: int,
    ) -> None:
        self.spec = spec
        self.sink = sink
        self.batch_records = batch_records
        self.archived = 0
        app.agent(topic, name=f"archive-{spec.name}")(self.process)

    async def process(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for values in stream.take(self.batch_records, within=1.0):
            rows: list[tuple[Any, ...]] = []
            for value in values:
                for event in decode(self.spec.model, value).events:
                    rows.append(
                        (event.occurred_at, self.spec.name, event.agency, event.event_id,
                         event.model_dump_json())
                    )  # fmt: skip
            await self._write(rows)
            yield None

    async def _write(self, rows: list[tuple[Any, ...]]) -> None:
        delay = 0.5
        while True:
            try:
                await self.sink.archive(rows)
                self.archived += len(rows)
                return
            except SinkUnavailable as exc:
                log.warning("archive of %s waits for the database: %s", self.spec.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
