"""`govpulse worker`: a Faust worker aggregating every feed of a namespace into the database."""

from __future__ import annotations

import gc
import logging
from typing import Annotated

import faust
import typer

from cli.context import configure_logging, settings_for
from cli.errors import friendly_errors
from cli.output import console


@friendly_errors
def worker(
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
    loglevel: Annotated[str, typer.Option(help="Faust's log level.")] = "warning",
) -> None:
    """Run a stream worker until Ctrl-C; start more with the same namespace to share the load."""
    from govpulse.kafka_admin import ensure_topics
    from govpulse.topics import select_feeds
    from streams.pipeline import build_app

    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    ensure_topics(settings.kafka, select_feeds(None), settings.namespace)
    pipeline = build_app(settings)
    console.print(
        f"worker {pipeline.worker}: namespace {settings.namespace}, broker "
        f"{settings.kafka.bootstrap_servers}, database {settings.db.describe()}; Ctrl-C stops",
        highlight=False,
    )
    run_worker(pipeline.app, loglevel, settings.streams.max_pending_events)


def run_worker(app: faust.App, loglevel: str, max_pending_events: int) -> None:
    tune_garbage_collector(max_pending_events)

    logging.getLogger("faust").setLevel(loglevel.upper())
    # "producer buffer full" is faust's flow control on changelog writes, not a fault.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


# Tracked objects a pending event holds until its flush: archive entry, event id, row share.
TRACKED_PER_PENDING_EVENT = 4


def tune_garbage_collector(max_pending_events: int) -> None:
    """Keep CPython's cycle collector off the per-event path.

    The worker allocates a few containers per event (rows, archive entries, counted ids), so
    with the default thresholds (700, 10, 10) a collection runs every few hundred events and an
    older-generation one, walking every pending row, every few thousand: a third of the time of
    applying a record (docs/performance.md). What start-up built (faust, pydantic models,
    reference data) never becomes garbage, so it is frozen out of every collection. The young
    generation's count is allocations minus deallocations of tracked objects, and the pending
    events hold a few each until their flush frees them: the threshold sits above what
    `max_pending_events` can hold, so pending events are freed by their flush, not walked while
    they accumulate (at 50,000 allocations the young collections took 0.24 of the 5.4 CPU-s of
    catching up the bench's hour; at 200,000, 0.01). The worker's state is acyclic, so
    reference counting frees it at once either way; only cycles wait longer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(50_000, TRACKED_PER_PENDING_EVENT * max_pending_events), 20, 50)
