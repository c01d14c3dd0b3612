"""`govpulse up`: the whole pipeline on one machine without Docker, until Ctrl-C.

Starts the embedded broker when no broker answers at a loopback address, applies the database
migrations, creates the topics, starts a stream worker, and runs every simulated feed live.
Ctrl-C stops the feeds (flushing them), then the worker, then the broker.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from typing import Annotated

import typer

from cli.connectors import run_feeds
from cli.context import settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.broker import EmbeddedBroker, port_open


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@friendly_errors
def up(
    scale: Annotated[float, typer.Option(help="Volume relative to the whole country.")] = 1.0,
    accelerate: Annotated[float, typer.Option(help="Event-time seconds per wall second.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2024,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Run the pipeline: broker (embedded if none answers), migrations, worker, connectors."""
    from govpulse.db.migrate import migrate

    settings = settings_for()
    first = settings.kafka.bootstrap_servers.split(",")[0].strip()
    host, _, port_text = first.rpartition(":")
    broker: EmbeddedBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    if not port_open(host, int(port_text)):
        if not _loopback(host):
            raise fail(f"no Kafka broker answers at {first}, and it is not local to embed one")
        embedded = settings.embedded_broker.model_copy(
            update={"host": host, "port": int(port_text)}
        )
        broker = EmbeddedBroker(embedded).start()
        console.print(f"started the embedded broker on {broker.bootstrap_servers} (memory only)",
                      highlight=False)  # fmt: skip
    try:
        report = migrate(settings)
        console.print(
            f"database {settings.db.describe()}, schema {settings.namespace}: "
            f"{len(report.applied)} migrations applied", highlight=False,
        )  # fmt: skip
        # The worker runs in its own process: faust owns its event loop and signal handlers.
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker"], env=os.environ.copy()
        )
        run_feeds(
            feeds=None, scale=scale, rate=None, seed=seed, count=None, duration=duration,
            accelerate=accelerate, start=None, until=None, namespace=None, duplicates=0.0,
            late=0.0, late_delay=120.0, malformed=0.0, silent=None, silent_after=None,
            silent_for=None, create_topics=True,
        )  # fmt: skip
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            console.print("worker stopped")
        if broker:
            broker.stop()
            console.print("embedded broker stopped")
