"""Flow control and database availability shared by a worker's feeds.

Events applied but not yet written are counted across feeds; past `max_pending_events` the agents
wait before taking the next record, so an outage or an overload leaves the backlog in Kafka and
the worker's memory flat. The first failure of an outage is remembered, so logs and pipeline
health can say since when the database has been away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

log = logging.getLogger(__name__)


class FlowControl:
    def __init__(self, max_pending_events: int) -> None:
        self.max_pending = max_pending_events
        self.pending = 0
        self.down_since: datetime | None = None
        self._down_monotonic = 0.0
        self._room = asyncio.Event()
        self._room.set()

    async def wait_for_room(self) -> None:
        while self.pending >= self.max_pending:
            self._room.clear()
            await self._room.wait()

    def added(self, events: int) -> None:
        self.pending += events

    def removed(self, events: int) -> None:
        self.recount(max(0, self.pending - events))

    def recount(self, pending: int) -> None:
        self.pending = pending
        if pending < self.max_pending:
            self._room.set()

    def database_down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = datetime.now(UTC)
            self._down_monotonic = time.monotonic()
            log.error("database unavailable since %s: %s", self.down_since.isoformat(), reason)

    def database_up(self) -> None:
        if self.down_since is not None:
            log.warning(
                "database available again after %.0f s (unavailable since %s)",
                time.monotonic() - self._down_monotonic, self.down_since.isoformat(),
            )  # fmt: skip
            self.down_since = None

    def outage_s(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self._down_monotonic
