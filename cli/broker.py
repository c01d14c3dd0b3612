"""`govpulse broker`: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from cli.context import settings_for
from cli.errors import friendly_errors
from cli.output import console
from govpulse.broker import EmbeddedBroker


@friendly_errors
def broker(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default: settings, loopback).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings, 9092).")] = None,
) -> None:
    """Run the embedded memory-only broker (Tansu) until Ctrl-C; data is lost when it stops."""
    settings = settings_for()
    embedded = settings.embedded_broker.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(embedded) as running:
        console.print(
            f"embedded broker (memory only) on {running.bootstrap_servers}; Ctrl-C stops",
            highlight=False,
        )
        while not stop.wait(0.5):
            if running.process is None or running.process.poll() is not None:
                raise typer.Exit(1)
    console.print("broker stopped")
