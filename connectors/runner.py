"""Running simulated feeds live: events paced against a clock and produced to Kafka.

Event time starts at the clock's now (or a given start) and advances `accelerate` times faster
than the wall clock; `accelerate=0` produces as fast as the broker takes it. The run stops after
`count` events, after `duration_s` of wall time, or when `stop` is set, and always flushes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from connectors import calibration as cal
from connectors.clock import Clock
from connectors.drills import DrillBook
from connectors.faults import FaultConfig, FaultInjector, FaultStats, Outgoing
from connectors.simulation import SimulationConfig, simulate

HORIZON = timedelta(days=3650)  # a live run has no planned end; this only bounds the window
MIN_SAMPLE_EVENTS = 200  # fewer would leave the measured rate off by more than 7% (one sigma)


class Sink(Protocol):
    """Where outgoing elements go (a Kafka producer, or a list in tests)."""

    def send(self, out: Outgoing) -> None: ...

    def poll(self) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    start: datetime | None = None
    end: datetime | None = None  # event time to stop at (exclusive); None: no planned end
    accelerate: float = 1.0
    count: int | None = None
    duration_s: float | None = None
    progress_every_s: float = 2.0

    def __post_init__(self) -> None:
        if self.accelerate < 0:
            raise ValueError("accelerate must be 0 (as fast as possible) or positive")


@dataclass
class RunProgress:
    events: int = 0
    valid_events: int = 0
    elapsed_s: float = 0.0
    event_time: datetime | None = None
    faults: FaultStats = field(default_factory=FaultStats)

    @property
    def rate(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


def scale_for_rate(rate: float, feeds: tuple[str, ...], accelerate: float) -> float:
    """The scale at which the chosen feeds average `rate` events per wall second."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    per_second = sum(cal.FEED_EVENTS_PER_SECOND[name] for name in feeds)
    return rate / (per_second * (accelerate if accelerate > 0 else 1.0))


def scale_for_rate_from(
    rate: float,
    config: SimulationConfig,
    start: datetime,
    accelerate: float,
    sample_s: float = 10.0,
) -> float:
    """The scale at which a run from `start` produces about `rate` events per wall second over its
    first `sample_s` seconds (longer when those hold too few events to tell), found by simulating
    that window.

    `scale_for_rate` gives the daily average; a run's first minutes differ from it by the time of
    day and because a new run has no lifecycles in flight yet (no receipts, no later dossier
    steps): `scale_for_rate(10_000)` starts at about 2,600 events/s at 01:00 in Vietnam, 4,500 at
    17:00 and 19,700 at 09:00. A load test asks for the rate it will offer.
    """
    pace = accelerate if accelerate > 0 else 1.0
    guess = scale_for_rate(rate, config.feeds, pace)
    sample = replace(config, scale=guess)
    seconds = sample_s
    while True:
        window = timedelta(seconds=seconds * pace)
        produced = sum(1 for _ in simulate(sample, start, start + window))
        if produced >= MIN_SAMPLE_EVENTS:
            # Entity counts are proportional to the scale, so one correction lands close.
            return guess * rate * seconds / produced
        if window >= timedelta(days=1):
            # Rare feeds at a small rate: a day from `start` is the average the guess was.
            return guess
        seconds *= 4


def run(
    sink: Sink,
    config: SimulationConfig,
    faults: FaultConfig,
    options: RunOptions,
    clock: Clock,
    stop: threading.Event | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    drills: DrillBook | None = None,
) -> RunProgress:
    """Produce until a limit is reached; returns the final progress. `drills` active at an
    element's event time rewrite, drop or add elements on the way (paced live, event time is the
    wall clock: a drill from now for 10 minutes acts on the next 10 minutes of traffic)."""
    stop = stop or threading.Event()
    start = options.start or clock.now()
    injector = FaultInjector(faults)
    progress = RunProgress(faults=injector.stats)
    wall0 = clock.monotonic()
    next_report = wall0 + options.progress_every_s
    start_ms = start.timestamp() * 1000
    pace = options.accelerate > 0

    def report(now: float) -> None:
        nonlocal next_report
        progress.elapsed_s = now - wall0
        if on_progress and now >= next_report:
            on_progress(progress)
            next_report = now + options.progress_every_s

    end = options.end or start + HORIZON
    for out in injector.apply(simulate(config, start, end)):
        if pace:
            due = wall0 + (out.timestamp_ms - start_ms) / 1000 / options.accelerate
            while (now := clock.monotonic()) < due and not stop.is_set():
                sink.poll()
                report(now)
                clock.sleep(min(due - now, 0.1))
        if stop.is_set():
            break
        if options.duration_s is not None and clock.monotonic() - wall0 >= options.duration_s:
            break
        event_time = datetime.fromtimestamp(out.timestamp_ms / 1000, start.tzinfo)
        for element in drills.apply(out, event_time) if drills is not None else (out,):
            sink.send(element)
            progress.events += 1
            progress.valid_events += element.valid
            if progress.events % 1024 == 0:
                sink.poll()
                report(clock.monotonic())
        progress.event_time = event_time
        if options.count is not None and progress.events >= options.count:
            break
    progress.elapsed_s = clock.monotonic() - wall0
    return progress
