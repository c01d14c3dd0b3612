"""`govpulse bench`: throughput, freshness and replay figures of this machine, printed.

Runs against the configured broker and PostgreSQL in throw-away namespaces (dropped at the end
unless --keep): simulates a window into a recording, loads it (the replay rate), reads it back
with a plain consumer (the raw ceiling), runs a worker until the database counts every event (the
pipeline rate, worker CPU and peak memory), and measures freshness under a steady offered load.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.context import configure_logging, settings_for
from cli.errors import friendly_errors
from cli.output import console
from govpulse.settings import Settings, child_environment


def _worker_env(settings: Settings) -> dict[str, str]:
    env = child_environment(settings, os.environ)
    return env | {"GOVPULSE_STREAMS__WORKER_NAME": f"bench-{settings.namespace}"}


@friendly_errors
def bench(
    scale: Annotated[float, typer.Option(help="Volume of the simulated window.")] = 1.0,
    hours: Annotated[
        float, typer.Option(help="Hours of event time (from 08:00 on 1 Oct 2024).")
    ] = 2.0,
    rate: Annotated[
        float, typer.Option(help="Offered load for the freshness run (events/s).")
    ] = 10_000,
    freshness_s: Annotated[float, typer.Option(help="Length of the freshness run (s).")] = 30,
    archive: Annotated[
        bool, typer.Option(help="Keep the raw-event archive on in the worker.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    keep: Annotated[bool, typer.Option(help="Keep the namespaces for inspection.")] = False,
) -> None:
    """Measure the raw ceiling, the pipeline rate, freshness and the replay rate."""
    from benchmarks import measurements as m
    from connectors.calibration import local_day
    from connectors.simulation import SimulationConfig, simulate
    from govpulse.db.migrate import drop_namespace, migrate
    from govpulse.kafka_admin import ensure_topics
    from govpulse.recording import RecordingWriter
    from govpulse.topics import select_feeds

    configure_logging("WARNING")
    tag = uuid.uuid4().hex[:8]
    load_ns, fresh_ns = f"bench_{tag}", f"bench_{tag}_fresh"
    figures: dict[str, Any] = {"scale": scale, "hours": hours}
    work = Path(tempfile.mkdtemp(prefix="govpulse-bench-"))
    recording = work / "window.ndjson.gz"
    start = local_day(2024, 10, 1).replace(hour=8)
    with console.status("simulating the window"), RecordingWriter(recording) as writer:
        for feed_name, event in simulate(
            SimulationConfig(seed=2024, scale=scale), start, start + timedelta(hours=hours)
        ):
            writer.write(feed_name, event)
    figures["events"] = writer.count
    namespaces = []
    try:
        for name in (load_ns, fresh_ns):
            settings = settings_for(name)
            ensure_topics(settings.kafka, select_feeds(None), name)
            migrate(settings)
            namespaces.append(settings)
        load, fresh = namespaces
        env = _worker_env(load) | ({} if archive else {"GOVPULSE_STREAMS__ARCHIVE_RAW": "false"})
        with console.status("(d) loading the recording (replay rate)"):
            replay_rate = m.load_recording(load, recording)
        with console.status("(a) raw ceiling: a plain consumer decoding every record"):
            ceiling = m.raw_ceiling(load)
        with console.status("(b) pipeline: a worker until the database counts every event"):
            result = m.pipeline(load, env, figures["events"], work / "pipeline-worker.log")
        with console.status(f"(c) freshness at {rate:,.0f} events/s for {freshness_s:.0f} s"):
            fresh_env = _worker_env(fresh) | (
                {} if archive else {"GOVPULSE_STREAMS__ARCHIVE_RAW": "false"}
            )
            delays = m.freshness(fresh, fresh_env, rate, freshness_s, work / "freshness-worker.log")
        figures |= {
            "replay_events_per_s": round(replay_rate.per_second),
            "raw_ceiling_events_per_s": round(ceiling.per_second),
            "pipeline_events_per_s": round(result.rate.per_second),
            "pipeline_to_ceiling": round(result.rate.per_second / ceiling.per_second, 3)
            if ceiling.per_second
            else None,
            "worker_cpu_s": round(result.worker_cpu_s, 1),
            "worker_cpu_share": round(result.worker_cpu_s / result.rate.seconds, 2),
            "worker_peak_mb": round(result.worker_peak_mb),
            "freshness_offered_events_per_s": rate,
            "freshness_p50_s": round(m.median(delays), 3),
            "freshness_p99_s": round(m.percentile(delays, 0.99), 3),
            "freshness_probes": len(delays),
            "archive": archive,
        }
    finally:
        if not keep:
            for settings in namespaces:
                drop_namespace(settings, settings.namespace, force=True)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(
        "figure",
        "value",
        title=f"govpulse bench: {figures['events']:,} events "
        f"({hours:g} h at scale {scale:g}), raw archive {'on' if archive else 'off'}",
    )
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else str(value),
        )
    console.print(table)
