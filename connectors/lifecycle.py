"""A time-ordered queue of pending lifecycle steps for entities that live across many slots.

Simulators push each entity with the time of its next step; popping returns steps in event-time
order (ties broken by insertion order, so runs are deterministic).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from typing import Generic, TypeVar

T = TypeVar("T")


class StepQueue(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, T]] = []
        self._order = count()

    def push(self, when: datetime, item: T) -> None:
        heapq.heappush(self._heap, (when, next(self._order), item))

    def pop_until(self, end: datetime) -> Iterator[tuple[datetime, T]]:
        """Every step due before `end`, earliest first; steps pushed meanwhile are included."""
        heap = self._heap
        while heap and heap[0][0] < end:
            when, _, item = heapq.heappop(heap)
            yield when, item

    def __len__(self) -> int:
        return len(self._heap)
