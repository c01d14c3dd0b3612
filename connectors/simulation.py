"""All simulated feeds merged into one event-time-ordered stream.

The entry point for `govpulse simulate`, the live connectors and the tests: pick feeds, a seed and
a scale, and iterate a window of event time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.documents import DocumentSimulator
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.incidents import IncidentSimulator
from connectors.ndxp import NdxpSimulator
from connectors.portal import PortalSimulator
from govpulse.topics import FEEDS, select_feeds


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. `scale` 1.0 is the whole country as the calibration figures describe."""

    seed: int = 2024
    scale: float = 1.0
    feeds: tuple[str, ...] = field(default_factory=lambda: tuple(FEEDS))

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        select_feeds(list(self.feeds))  # fails with the list of valid feeds


def build_simulators(config: SimulationConfig) -> list[FeedSimulator]:
    wanted = set(config.feeds)
    simulators: list[FeedSimulator] = []
    portal_feeds = wanted & set(PortalSimulator.feeds)
    if portal_feeds:
        # Payments need their dossiers simulated even when dossier events are not wanted.
        simulators.append(PortalSimulator(config.seed, config.scale, feeds=portal_feeds))
    for simulator_type in (NdxpSimulator, IncidentSimulator, DocumentSimulator):
        if wanted & set(simulator_type.feeds):
            simulators.append(simulator_type(config.seed, config.scale))
    return simulators


def simulate(config: SimulationConfig, start: datetime, end: datetime) -> Iterator[FeedEvent]:
    """Every event of the chosen feeds with start <= occurred_at < end, in event-time order."""
    streams: Sequence[Iterator[FeedEvent]] = [
        simulator.events(start, end) for simulator in build_simulators(config)
    ]
    return heapq.merge(*streams, key=lambda feed_event: feed_event[1].occurred_at)
