"""`govpulse record` and `govpulse replay`: capture traffic, and play it into a namespace."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.context import configure_logging, settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.topics import select_feeds

LIVE = "live"


def _aware(moment: datetime | None, option: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{option} needs a timezone, e.g. 2024-10-01T00:00:00+07:00")
    return moment


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console,
    )  # fmt: skip


@friendly_errors
def record(
    out: Annotated[Path, typer.Option(help="Recording to write (.ndjson.gz).")],
    namespace: Annotated[
        str | None, typer.Option(help="Namespace to read (default: settings).")
    ] = None,
    feeds: Annotated[list[str] | None, typer.Option("--feeds", help="Feeds (repeatable).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Event time from (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Event time until, exclusive.")] = None,
    from_offset: Annotated[int | None, typer.Option(help="Start every partition here.")] = None,
) -> None:
    """Capture a namespace's topics from Kafka into a recording, by event-time range or offset."""
    import time

    from connectors.kafka_source import ReadStats, kafka_source
    from govpulse.recording import RecordingWriter

    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    stats = ReadStats()
    source = kafka_source(settings.kafka, settings.namespace, select_feeds(feeds),
                          _aware(since, "--since"), _aware(until, "--until"), from_offset,
                          stats=stats)  # fmt: skip
    started = time.monotonic()
    with RecordingWriter(out) as writer, _progress() as bar:
        task = bar.add_task(f"recording {settings.namespace}", total=None, rate=0.0)
        for element in source:
            writer.write_raw(element.feed, element.key, element.timestamp_ms, element.value)
            if writer.count % 2_000 == 0:
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(task, total=stats.total_records or None, completed=stats.records,
                           rate=writer.count / elapsed)  # fmt: skip
    console.print(
        f"recorded {stats.events:,} events from {stats.records:,} records to {out} "
        f"({stats.invalid:,} invalid and {stats.skipped_by_time:,} outside the window left out)",
        highlight=False,
    )


@friendly_errors
def replay(
    source: Annotated[
        str, typer.Argument(help="A recording file, kafka:NAMESPACE or archive:NAMESPACE.")
    ],
    namespace: Annotated[str, typer.Option(help="Namespace to replay into.")],
    speed: Annotated[
        float | None, typer.Option(help="Event-time speed factor (60 = a minute a second).")
    ] = None,
    max_speed: Annotated[bool, typer.Option("--max", help="As fast as possible.")] = False,
    since: Annotated[datetime | None, typer.Option(help="Event time from (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Event time until, exclusive.")] = None,
    feeds: Annotated[list[str] | None, typer.Option("--feeds", help="Feeds (repeatable).")] = None,
    force: Annotated[bool, typer.Option(help="Allow replaying into the live namespace.")] = False,
) -> None:
    """Replay traffic into a namespace's topics, keeping per-key order and event times."""
    from connectors.clock import SystemClock
    from connectors.producer import BatchingProducer
    from connectors.replay import ReplayProgress, open_source
    from connectors.replay import replay as run_replay
    from govpulse.kafka_admin import ensure_topics

    if namespace == LIVE and not force:
        raise fail("refusing to replay into the live namespace; use another one, or --force")
    if (speed is None) == (not max_speed):
        raise fail("choose one of --speed X or --max", code=2)
    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    wanted = {spec.name for spec in select_feeds(feeds)}
    start, end = _aware(since, "--since"), _aware(until, "--until")
    opened = open_source(source, namespace, settings.kafka, settings.db, wanted, start, end)
    ensure_topics(settings.kafka, select_feeds(sorted(wanted)), namespace)
    producer = BatchingProducer(settings.kafka, namespace)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _progress() as bar:
        task = bar.add_task(f"replaying into {namespace}", total=opened.total, rate=0.0)

        def show(progress: ReplayProgress) -> None:
            bar.update(task, completed=progress.events, rate=progress.rate)

        try:
            result = run_replay(opened.elements, producer, SystemClock(),
                                None if max_speed else speed, stop, show)  # fmt: skip
        finally:
            producer.close()
        bar.update(task, completed=result.events, rate=result.rate)
    table = Table("feed", "events", title=(
        f"{'stopped' if result.stopped else 'replayed'} {result.events:,} events in "
        f"{result.elapsed_s:.1f} s ({result.rate:,.0f} events/s) into {namespace}"
    ))  # fmt: skip
    for feed_name, count in sorted(result.per_feed.items()):
        table.add_row(feed_name, f"{count:,}")
    console.print(table)
    if result.first_event_ms is not None and result.last_event_ms is not None:
        first = datetime.fromtimestamp(result.first_event_ms / 1000).astimezone()
        last = datetime.fromtimestamp(result.last_event_ms / 1000).astimezone()
        console.print(f"event time {first.isoformat(timespec='seconds')} .. "
                      f"{last.isoformat(timespec='seconds')}", highlight=False)  # fmt: skip
    if result.stopped:
        raise typer.Exit(130)
