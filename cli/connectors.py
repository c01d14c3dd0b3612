"""`govpulse connectors list | run | drill | drills`: the simulated feeds, produced live to Kafka,
and the drills operators inject into them."""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
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
        float | None,
        typer.Option(
            help="Events per wall second at the start; sets the scale (the day moves it)."
        ),
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
    drills: Annotated[
        bool, typer.Option(help="Take drills from <namespace>.control (govpulse connectors drill).")
    ] = True,
) -> None:
    """Produce simulated feeds to Kafka, paced in event time, until stopped (Ctrl-C)."""
    from connectors.clock import SystemClock
    from connectors.control import ControlListener
    from connectors.drills import DrillBook
    from connectors.faults import FaultConfig
    from connectors.producer import BatchingProducer
    from connectors.runner import RunOptions, run, scale_for_rate_from
    from connectors.simulation import SimulationConfig
    from govpulse.kafka_admin import ensure_topics

    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    specs = select_feeds(feeds)
    names = tuple(spec.name for spec in specs)
    clock = SystemClock()
    start_at = _aware(start) if start else clock.now()
    config = SimulationConfig(seed=seed, scale=scale, feeds=names)
    if rate is not None:
        config = replace(config, scale=scale_for_rate_from(rate, config, start_at, accelerate))
        scale = config.scale
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
    book = DrillBook(seed) if drills else None
    listener = ControlListener(settings.kafka, settings.namespace, book) if book else None
    if listener is not None:
        listener.start()
    try:
        progress = run(
            producer, config, faults, options, clock, stop, progress_printer(producer.stats), book
        )
    finally:
        if listener is not None:
            listener.stop()
        producer.close()
    if book is not None and listener is not None and listener.received:
        stats = book.stats
        console.print(
            f"drills: {listener.received} received; events rewritten "
            f"{sum(stats.rewritten.values())}, dropped {sum(stats.dropped.values())}, added "
            f"{sum(stats.added.values())}, unfit {sum(stats.unfit.values())}",
            highlight=False,
        )
    print_run_summary(progress, producer.stats)


@app.command("drill")
@friendly_errors
def drill(
    scenario: Annotated[str, typer.Argument(help="What to rehearse (see `connectors drills`).")],
    duration: Annotated[str, typer.Option(help="How long, e.g. 10m, 1h.")] = "10m",
    agency: Annotated[str | None, typer.Option(help="Only this agency (code).")] = None,
    service: Annotated[str | None, typer.Option(help="Only this NDXP service.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this NDXP provider (code).")] = None,
    intensity: Annotated[
        float, typer.Option(help="Share of the matching events affected (0-1].")
    ] = 1.0,
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
) -> None:
    """Inject a drill into the running simulated feeds of a namespace, starting now."""
    from connectors.clock import SystemClock
    from connectors.control import control_topic, send_drill
    from connectors.drills import new_drill
    from govpulse.alerts.rules import parse_duration

    settings = settings_for(namespace)
    planned = new_drill(
        scenario, SystemClock().now(), parse_duration(duration), agency=agency, service=service,
        provider=provider, intensity=intensity,
    )  # fmt: skip
    send_drill(settings.kafka, settings.namespace, planned)
    options = (("agency", agency), ("service", service), ("provider", provider))
    target = ", ".join(f"{k} {v}" for k, v in options if v)
    console.print(
        f"drill {planned.id}: {scenario}{f' ({target})' if target else ''} until "
        f"{planned.ends_at.isoformat(timespec='seconds')}, sent to "
        f"{control_topic(settings.namespace)}",
        highlight=False,
    )


@app.command("drills")
def list_drills() -> None:
    """The drill scenarios and the packaged alert rules each one fires."""
    from connectors.drills import SCENARIOS

    table = Table("drill", "what happens", "feeds", "fires", "needs")
    for s in SCENARIOS.values():
        table.add_row(
            s.name, s.description, ", ".join(s.feeds), ", ".join(s.fires) or "-",
            ", ".join(f"--{n}" for n in s.needs) or "-",
        )  # fmt: skip
    console.print(table)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times need a timezone, e.g. 2024-10-01T08:00:00+07:00")
    return moment


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
