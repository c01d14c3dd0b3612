"""Fault injection for simulated feeds: duplicates, late and out-of-order events, malformed
records and agencies that fall silent.

Faults act on the event-time-ordered stream just before it is produced, so every downstream part
(validation, dead-letter topics, late side channel, duplicate detection, absence alerts) can be
tested against the exact faults injected; `FaultStats` counts each of them.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count

import orjson

from connectors.feed_simulator import FeedEvent
from govpulse.recording import event_time_ms


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One element ready to produce: a valid event's JSON, or a malformed one.

    `whole_record` marks bytes that must travel as a record of their own (broken JSON cannot sit
    inside a batch without breaking its neighbours).
    """

    feed: str
    key: str
    timestamp_ms: int
    value: bytes
    valid: bool = True
    whole_record: bool = False


@dataclass(frozen=True)
class FaultConfig:
    """Fault rates are per event, from 0 (never) to 1. All zero means a clean feed."""

    seed: int = 0
    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    late_delay_mean_s: float = 120.0  # exponential delay between event time and production
    malformed_rate: float = 0.0  # extra malformed elements, beside the valid events
    silent_agencies: tuple[str, ...] = ()
    silent_from: datetime | None = None  # None: from the start
    silent_for: timedelta | None = None  # None: for good

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "late_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.late_delay_mean_s <= 0:
            raise ValueError("late_delay_mean_s must be positive")

    @property
    def active(self) -> bool:
        return bool(
            self.duplicate_rate or self.late_rate or self.malformed_rate or self.silent_agencies
        )


@dataclass
class FaultStats:
    duplicates: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    silenced: Counter[str] = field(default_factory=Counter)


MALFORMATIONS = ("negative_number", "naive_time", "unknown_field", "missing_field", "broken_json")


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(f"faults:{config.seed}")
        self.stats = FaultStats()

    def apply(self, stream: Iterator[FeedEvent]) -> Iterator[Outgoing]:
        """The stream with faults applied; held-back (late) events follow their delay."""
        config, rng, stats = self.config, self.rng, self.stats
        held: list[tuple[datetime, int, Outgoing]] = []
        order = count()
        for feed, event in stream:
            while held and held[0][0] <= event.occurred_at:
                yield heapq.heappop(held)[2]
            if self._silenced(event.agency, event.occurred_at):
                stats.silenced[feed] += 1
                continue
            out = Outgoing(
                feed, event.agency, event_time_ms(event), event.model_dump_json().encode()
            )
            if config.late_rate and rng.random() < config.late_rate:
                delay = timedelta(seconds=rng.expovariate(1.0 / config.late_delay_mean_s))
                heapq.heappush(held, (event.occurred_at + delay, next(order), out))
                stats.late[feed] += 1
            else:
                yield out
            if config.duplicate_rate and rng.random() < config.duplicate_rate:
                stats.duplicates[feed] += 1
                yield out
            if config.malformed_rate and rng.random() < config.malformed_rate:
                stats.malformed[feed] += 1
                yield self._malformed(out)
        while held:
            yield heapq.heappop(held)[2]

    def _silenced(self, agency: str, when: datetime) -> bool:
        config = self.config
        if agency not in config.silent_agencies:
            return False
        if config.silent_from is not None and when < config.silent_from:
            return False
        start = config.silent_from
        return not (
            config.silent_for is not None
            and start is not None
            and when >= start + config.silent_for
        )

    def _malformed(self, out: Outgoing) -> Outgoing:
        kind = self.rng.choice(MALFORMATIONS)
        if kind == "broken_json":
            return Outgoing(
                out.feed,
                out.key,
                out.timestamp_ms,
                out.value[: len(out.value) // 2],
                valid=False,
                whole_record=True,
            )
        obj = orjson.loads(out.value)
        obj["event_id"] = str(obj["event_id"])[:-4] + "beef"  # never equal to a real event's id
        if kind == "negative_number":
            numeric = [k for k, v in obj.items() if isinstance(v, int) and not isinstance(v, bool)]
            obj[numeric[0] if numeric else "schema_version"] = -1
        elif kind == "naive_time":
            obj["occurred_at"] = obj["occurred_at"][:19]
        elif kind == "unknown_field":
            obj["unexpected"] = "x"
        else:
            obj.pop("agency")
        return Outgoing(out.feed, out.key, out.timestamp_ms, orjson.dumps(obj), valid=False)
