"""Flow control and database availability shared by a worker's feeds.

Events applied but not yet written are counted across feeds; past `max_pending_events` the agents
wait before taking the next record, so an outage or an overload leaves the backlog in Kafka and
the worker's memory flat. The count includes the events a flush is writing (they are in memory
until it commits), so a flush must not wait until the whole allowance is pending: the agents
would then stand still for as long as the database takes to write it. A flush is therefore due
as soon as half the allowance waits for one (`flush_at`, `until_flush_due`), and the agents
fill the other half while it is written (docs/performance.md, sixteenth session).

The first failure of an outage is remembered, so logs and pipeline health can say since when the
database has been away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

log = logging.getLogger(__name__)


class FlowControl:
    def __init__(self, max_pending_events: int) -> None:
        self.max_pending = max_pending_events
        self.flush_at = max(1, max_pending_events // 2)
        self.pending = 0  # applied and not yet committed, including what a flush is writing
        self.in_flight = 0  # of those, what the flush under way took
        self.down_since: datetime | None = None
        self._down_monotonic = 0.0
        self._room = asyncio.Event()
        self._room.set()
        self._flush_due = asyncio.Event()

    async def wait_for_room(self) -> None:
        while self.pending >= self.max_pending:
            self._room.clear()
            await self._room.wait()

    def added(self, events: int) -> None:
        self.pending += events
        if self.pending - self.in_flight >= self.flush_at:
            self._flush_due.set()

    def removed(self, events: int) -> None:
        self.recount(max(0, self.pending - events))

    def recount(self, pending: int) -> None:
        self.pending = pending
        if pending < self.max_pending:
            self._room.set()

    def flushing(self, events: int) -> None:
        """A flush took `events` of the pending ones; what comes next counts towards the next."""
        self.in_flight = events
        self._flush_due.clear()

    def flushed(self, pending: int) -> None:
        """The flush ended (written or given back); `pending` events wait for the next one."""
        self.in_flight = 0
        self.recount(pending)
        if pending >= self.flush_at:
            self._flush_due.set()

    @property
    def flush_is_due(self) -> bool:
        return self._flush_due.is_set()

    async def until_flush_due(self, timeout: float) -> None:
        """Return once half the allowance waits for a flush, or after `timeout` seconds."""
        if timeout <= 0 or self._flush_due.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush_due.wait(), timeout)

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
