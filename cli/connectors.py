"""`govpulse connectors list | run`: the simulated feeds, produced live to Kafka."""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from cli.context import configure_logging, settings_for
from cli.errors import friendly_errors
from cli.output import console, print_run_summary, progress_printer
from govpulse.topics import FEEDS, select_feeds

app = typer.Typer(help="Simulated feeds of the national platforms.", no_args_is_help=True)


@app.command("list")
def list_feeds() -> None:
    """List the feeds: topic, event model, partitions."""
    table = Table("feed", "event model", "partitions", "what one event is")
    for spec in FEEDS.values():
        table.add_row(spec.name, spec.model.__name__, str(spec.partitions), spec.description)
    console.print(table)


@app.command("run")
@friendly_errors
def run_feeds(
    feeds: Annotated[list[str] | None, typer.Argument(help="Feeds to run (default: all).")] = None,
    scale: Annotated[float, typer.Option(help="Volume relative to the whole country (1.0).")] = 1.0,
    rate: Annotated[
        float | None, typer.Option(help="Target events per wall second; sets the scale.")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same events.")
    ] = 2024,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    accelerate: Annotated[
        float, typer.Option(help="Event-time seconds per wall second; 0 = as fast as possible.")
    ] = 1.0,
    start: Annotated[
        datetime | None, typer.Option(help="Event time of the start (default: now), ISO 8601.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Event time to stop at (exclusive), ISO 8601.")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
    duplicates: Annotated[float, typer.Option(help="Fault: share of events sent twice.")] = 0.0,
    late: Annotated[float, typer.Option(help="Fault: share of events held back.")] = 0.0,
    late_delay: Annotated[float, typer.Option(help="Fault: mean hold-back in seconds.")] = 120.0,
    malformed: Annotated[
        float, typer.Option(help="Fault: share of extra malformed records.")
    ] = 0.0,
    silent: Annotated[
        list[str] | None, typer.Option(help="Fault: agency code that falls silent (repeatable).")
    ] = None,
    silent_after: Annotated[
        float | None, typer.Option(help="Fault: seconds of event time before the silence.")
    ] = None,
    silent_for: Annotated[
        float | None, typer.Option(help="Fault: how long the silence lasts (s).")
    ] = None,
    create_topics: Annotated[bool, typer.Option(help="Create missing topics first.")] = True,
) -> None:
    """Produce simulated feeds to Kafka, paced in event time, until stopped (Ctrl-C)."""
    from connectors.clock import SystemClock
    from connectors.faults import FaultConfig
    from connectors.producer import BatchingProducer
    from connectors.runner import RunOptions, run, scale_for_rate
    from connectors.simulation import SimulationConfig
    from govpulse.kafka_admin import ensure_topics

    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    specs = select_feeds(feeds)
    names = tuple(spec.name for spec in specs)
    if rate is not None:
        scale = scale_for_rate(rate, names, accelerate)
    clock = SystemClock()
    start_at = _aware(start) if start else clock.now()
    config = SimulationConfig(seed=seed, scale=scale, feeds=names)
    faults = FaultConfig(
        seed=seed,
        duplicate_rate=duplicates,
        late_rate=late,
        late_delay_mean_s=late_delay,
        malformed_rate=malformed,
        silent_agencies=tuple(silent or ()),
        silent_from=start_at + timedelta(seconds=silent_after)
        if silent_after is not None
        else None,
        silent_for=timedelta(seconds=silent_for) if silent_for is not None else None,
    )
    if create_topics:
        ensure_topics(settings.kafka, specs, settings.namespace)
    producer = BatchingProducer(settings.kafka, settings.namespace)
    stop = threading.Event()
    _stop_on_signals(stop)
    console.print(
        f"producing {', '.join(names)} to {settings.kafka.bootstrap_servers} "
        f"(namespace {settings.namespace}, scale {scale:g}, accelerate {accelerate:g}x); "
        "Ctrl-C stops",
        highlight=False,
    )
    options = RunOptions(
        start=start_at,
        end=_aware(until) if until else None,
        accelerate=accelerate,
        count=count,
        duration_s=duration,
    )
    try:
        progress = run(
            producer, config, faults, options, clock, stop, progress_printer(producer.stats)
        )
    finally:
        producer.close()
    print_run_summary(progress, producer.stats)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times need a timezone, e.g. 2024-10-01T08:00:00+07:00")
    return moment


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
