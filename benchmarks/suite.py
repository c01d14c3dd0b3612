"""The whole `govpulse bench` run, returning its figures; options and printing are the CLI's.

Runs against the configured broker and PostgreSQL in throw-away namespaces (dropped at the end
unless `keep`): simulates a window into a recording, loads it (the replay rate), reads it back
with a plain consumer (the raw ceiling) and with a reader that only parses and counts (this
machine's yardstick), runs a worker until the database counts every event (the
pipeline rate, worker CPU and peak memory), measures freshness under a steady offered load and,
when asked, the worker's memory under overload.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import measurements as m
from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.db.migrate import drop_namespace, migrate
from govpulse.kafka_admin import ensure_topics
from govpulse.recording import RecordingWriter
from govpulse.settings import Settings, child_environment
from govpulse.topics import select_feeds

# Shows what runs while a stage takes its time (the CLI passes a spinner); none by default.
Stage = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class BenchOptions:
    scale: float = 1.0
    hours: float = 2.0  # of event time, from 08:00 on 1 Oct 2024
    rate: float = 10_000  # offered load of the freshness run, events/s
    freshness_s: float = 30
    archive: bool = True  # keep the raw-event archive on in the worker
    keep: bool = False  # keep the namespaces for inspection
    overload_records_per_s: float = 0  # (e): one-event records offered; 0 skips the stage
    overload_s: float = 180


def _quiet(_: str) -> AbstractContextManager[object]:
    return nullcontext()


def worker_env(settings: Settings, archive: bool) -> dict[str, str]:
    env = child_environment(settings, os.environ)
    env |= {"GOVPULSE_STREAMS__WORKER_NAME": f"bench-{settings.namespace}"}
    return env | ({} if archive else {"GOVPULSE_STREAMS__ARCHIVE_RAW": "false"})


def run_bench(base: Settings, options: BenchOptions, stage: Stage = _quiet) -> dict[str, Any]:
    """Every figure of one bench run, in the order they are printed."""
    tag = uuid.uuid4().hex[:8]
    figures: dict[str, Any] = {"scale": options.scale, "hours": options.hours}
    work = Path(tempfile.mkdtemp(prefix="govpulse-bench-"))
    recording = work / "window.ndjson.gz"
    start = local_day(2024, 10, 1).replace(hour=8)
    with stage("simulating the window"), RecordingWriter(recording) as writer:
        config = SimulationConfig(seed=2024, scale=options.scale)
        for feed_name, event in simulate(config, start, start + timedelta(hours=options.hours)):
            writer.write(feed_name, event)
    figures["events"] = writer.count
    namespaces = []
    try:
        names = [f"bench_{tag}", f"bench_{tag}_fresh"]
        if options.overload_records_per_s:
            names.append(f"bench_{tag}_overload")
        for name in names:
            # model_copy skips validation: the names above are valid namespaces by construction.
            settings = base.model_copy(update={"namespace": name})
            ensure_topics(settings.kafka, select_feeds(None), name)
            migrate(settings)
            namespaces.append(settings)
        load, fresh = namespaces[:2]
        with stage("(d) loading the recording (replay rate)"):
            replay_rate = m.load_recording(load, recording)
        with stage("(a) raw ceiling: a plain consumer decoding every record"):
            ceiling = m.raw_ceiling(load)
            plain = m.plain_reader(load)
        with stage("(b) pipeline: a worker until the database counts every event"):
            result = m.pipeline(
                load, worker_env(load, options.archive), figures["events"],
                work / "pipeline-worker.log",
            )  # fmt: skip
        with stage(
            f"(c) freshness at {options.rate:,.0f} events/s for {options.freshness_s:.0f} s"
        ):
            fresh_result = m.freshness(
                fresh, worker_env(fresh, options.archive), options.rate, options.freshness_s,
                work / "freshness-worker.log",
            )  # fmt: skip
        if options.overload_records_per_s:
            with stage(
                f"(e) overload: {options.overload_records_per_s:,.0f} one-event records/s "
                f"for {options.overload_s:.0f} s, then until the worker catches up"
            ):
                over = m.overload(
                    namespaces[2], worker_env(namespaces[2], options.archive),
                    options.overload_records_per_s, options.overload_s,
                    work / "overload-worker.log",
                )  # fmt: skip
            figures |= {
                "overload_records": over.records,
                "overload_offered_records_per_s": round(over.offered_records_per_s),
                "overload_worker_start_mb": round(over.start_mb),
                "overload_worker_warm_mb": round(over.warm_mb),
                "overload_worker_peak_mb": round(over.peak_mb),
                "overload_drained_s": round(over.drained_s, 1),
                "overload_worker_after_mb": round(over.after_mb),
                "overload_worker_window_passed_mb": round(over.window_passed_mb),
            }
        figures |= {
            "replay_events_per_s": round(replay_rate.per_second),
            "raw_ceiling_events_per_s": round(ceiling.rate.per_second),
            "pipeline_events_per_s": round(result.rate.per_second),
            "pipeline_to_ceiling": round(result.rate.per_second / ceiling.rate.per_second, 3)
            if ceiling.rate.per_second
            else None,
            "worker_cpu_s": round(result.worker_cpu_s, 1),
            # Holds still on a shared machine where wall time does not (docs/performance.md).
            "events_per_worker_cpu_s": round(result.per_cpu_second.per_second),
            # ... but not from one machine (or one day of a virtual machine) to another: the plain
            # reader's figure is that machine's speed on the same records, so the ratio compares
            # runs across days. It is not issue 12's plain consumer (not kept; 387k there), so
            # the targets do not translate into ratios of it (docs/performance.md).
            "plain_reader_events_per_cpu_s": round(plain.per_cpu_second.per_second),
            "worker_to_plain_reader_cpu": round(
                result.per_cpu_second.per_second / plain.per_cpu_second.per_second, 3
            )
            if plain.per_cpu_second.per_second
            else None,
            # The CPU it spent from the first row on over that time: start-up is left out, as above.
            "worker_cpu_share": round(result.per_cpu_second.seconds / result.rate.seconds, 2),
            "worker_peak_mb": round(result.worker_peak_mb),
            # The pipeline rate of a run that met a checkpoint is not comparable with one that
            # did not (docs/performance.md, seventeenth session).
            "pipeline_db_checkpoints": result.checkpoints,
            "freshness_offered_events_per_s": options.rate,
            "freshness_load_events_per_s": round(fresh_result.load_per_s),
            "freshness_p50_s": round(m.median(fresh_result.delays), 3),
            "freshness_p99_s": round(m.percentile(fresh_result.delays, 0.99), 3),
            "freshness_max_s": round(max(fresh_result.delays, default=float("nan")), 3),
            "freshness_probes": len(fresh_result.delays),
            "freshness_probes_lost": fresh_result.lost,
            "archive": options.archive,
        }
    except BaseException:
        # The workers' logs say why a stage failed; the recording (up to 300 MB for a day) goes.
        if not options.keep:
            recording.unlink(missing_ok=True)
        raise
    else:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if not options.keep:
            for settings in namespaces:
                drop_namespace(settings, settings.namespace, force=True)
    return figures
