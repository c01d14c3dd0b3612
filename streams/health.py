"""Pipeline health per feed: what came in, what was rejected, late or duplicate, how fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass
class FeedHealth:
    """Counters since the last flush, and the gauges as they stand."""

    events_in: int = 0
    invalid: int = 0
    late: int = 0
    duplicates: int = 0
    last_event_at: datetime | None = None
    flush_latency_ms_max: int = 0
    consumer_lag: int | None = None

    def saw(self, newest: datetime) -> None:
        if self.last_event_at is None or newest > self.last_event_at:
            self.last_event_at = newest

    def drain(self, feed: str, worker: str, now: datetime) -> tuple[Any, ...]:
        """A pipeline_health row for this wall-clock minute, zeroing the counters it carries.

        Zeroing happens before the row is written (the agent keeps counting meanwhile); a failed
        write hands the row back to `restore`.
        """
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        row = (
            minute, feed, worker, self.events_in, self.invalid, self.late, self.duplicates,
            self.last_event_at, self.flush_latency_ms_max, self.consumer_lag, now,
        )  # fmt: skip
        self.events_in = self.invalid = self.late = self.duplicates = 0
        self.flush_latency_ms_max = 0
        return row

    def restore(self, row: tuple[Any, ...]) -> None:
        self.events_in += row[3]
        self.invalid += row[4]
        self.late += row[5]
        self.duplicates += row[6]
        self.flush_latency_ms_max = max(self.flush_latency_ms_max, row[8])
