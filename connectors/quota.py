"""Deterministic apportionment of calibrated volumes over time slots.

A volume figure ("302,765 documents sent in October 2024") becomes a rate per unit of activity.
Counts per slot are the differences of the rounded running total, so any run of slots receives
its expected count to within one event: a month simulated at scale 1.0 reproduces the figure,
while the placement of events inside each slot stays random.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from connectors.calendar import Profile, Slot, slots, total_weight


@dataclass(frozen=True)
class VolumeFigure:
    """A count observed over a window [start, end); the profile shapes it in time."""

    count: float
    start: datetime
    end: datetime
    profile: Profile

    @cached_property
    def rate_per_weight(self) -> float:
        return self.count / total_weight(self.profile, self.start, self.end)

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class RateSchedule:
    """Figures over consecutive windows (monthly incident counts, say) and a default elsewhere.

    The figure whose window holds a slot sets that slot's rate; outside every window the
    `default` figure's rate applies.
    """

    profile: Profile
    default: VolumeFigure
    figures: Sequence[VolumeFigure] = ()

    def rate_at(self, moment: datetime) -> float:
        for figure in self.figures:
            if figure.covers(moment):
                return figure.rate_per_weight
        return self.default.rate_per_weight


def apportion(
    schedule: RateSchedule, start: datetime, end: datetime, scale: float
) -> Iterator[tuple[Slot, int]]:
    """Each slot of [start, end) with the number of entities that start in it."""
    running = 0.0
    emitted = 0
    for slot in slots(schedule.profile, start, end):
        running += slot.weight * schedule.rate_at(slot.start) * scale
        count = round(running) - emitted
        emitted += count
        yield slot, count


def expected_count(schedule: RateSchedule, start: datetime, end: datetime, scale: float) -> float:
    """How many entities a window should receive: the calibration target, pro rata."""
    return sum(
        slot.weight * schedule.rate_at(slot.start) * scale
        for slot in slots(schedule.profile, start, end)
    )
