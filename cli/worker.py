"""`govpulse worker`: a Faust worker aggregating every feed of a namespace into the database."""

from __future__ import annotations

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
    run_worker(pipeline.app, loglevel)


def run_worker(app: faust.App, loglevel: str) -> None:

    logging.getLogger("faust").setLevel(loglevel.upper())
    # "producer buffer full" is faust's flow control on changelog writes, not a fault.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
