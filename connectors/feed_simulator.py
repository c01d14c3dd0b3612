"""The contract every simulated feed follows, and the slot loop they share.

A simulator is deterministic by injection: the same seed, scale and window give the same events.
Time never comes from the machine: the caller names the window, and a live runner paces the
events against its own clock.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import datetime

from connectors.lifecycle import StepQueue
from connectors.quota import RateSchedule, apportion
from govpulse.events import Event

FeedEvent = tuple[str, Event]
"""A feed name and one of its events."""


class FeedSimulator(ABC):
    """Emits the events of one or more feeds for a window of event time.

    Subclasses start entities (a dossier, a document, a call) at calibrated moments and advance
    their lifecycles through a shared step queue.
    """

    feeds: tuple[str, ...]
    schedule: RateSchedule

    def __init__(self, seed: int, scale: float) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.seed = seed
        self.scale = scale
        # String seeding is stable across runs and Python versions (it hashes with SHA-512).
        self.rng = random.Random(f"{seed}:{type(self).__name__}")

    def events(self, start: datetime, end: datetime) -> Iterator[FeedEvent]:
        """Every event with start <= occurred_at < end, in event-time order.

        Lifecycles still open at `end` are cut there: their later steps are not emitted.
        """
        queue: StepQueue[object] = StepQueue()
        rng = self.rng
        for slot, count in apportion(self.schedule, start, end, self.scale):
            if count:
                span = slot.end - slot.start
                for offset in sorted(rng.random() for _ in range(count)):
                    begun = slot.start + span * offset
                    # Steps due before this entity starts go out first: beginning a whole slot
                    # up front held back its first event for seconds at high scales (a 15-minute
                    # slot at 10k events/s is about a million entities), and a live run paced
                    # against the clock fell that far behind at every slot boundary.
                    for when, item in queue.pop_until(begun):
                        yield from self.step(when, item, queue)
                    self.begin(begun, queue)
            for when, item in queue.pop_until(slot.end):
                yield from self.step(when, item, queue)

    @abstractmethod
    def begin(self, when: datetime, queue: StepQueue[object]) -> None:
        """Start one entity at `when` by pushing its first step."""

    @abstractmethod
    def step(self, when: datetime, item: object, queue: StepQueue[object]) -> Iterable[FeedEvent]:
        """Emit the events of one due step and push the entity's next step, if any."""
