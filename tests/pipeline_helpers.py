"""Test helpers that drive the real pipeline: produce simulated windows, run workers, query."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from connectors.clock import ManualClock
from connectors.faults import FaultConfig, Outgoing
from connectors.producer import BatchingProducer
from connectors.runner import RunOptions, RunProgress, run
from connectors.simulation import SimulationConfig
from govpulse.kafka_admin import ensure_topics
from govpulse.settings import KafkaSettings, Settings, child_environment
from govpulse.topics import select_feeds


class RecordingSink:
    """Produces to Kafka and remembers every element sent, for independent expectations."""

    def __init__(self, producer: BatchingProducer) -> None:
        self.producer = producer
        self.sent: list[Outgoing] = []

    def send(self, out: Outgoing) -> None:
        self.sent.append(out)
        self.producer.send(out)

    def poll(self) -> None:
        self.producer.poll()


def produce(
    kafka_settings: KafkaSettings,
    namespace: str,
    config: SimulationConfig,
    start: datetime,
    end: datetime,
    faults: FaultConfig | None = None,
) -> tuple[RecordingSink, RunProgress]:
    ensure_topics(kafka_settings, select_feeds(list(config.feeds)), namespace)
    producer = BatchingProducer(kafka_settings, namespace)
    sink = RecordingSink(producer)
    try:
        options = RunOptions(start=start, end=end, accelerate=0)
        progress = run(sink, config, faults or FaultConfig(), options, ManualClock(start))
    finally:
        producer.close()
    return sink, progress


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    # A short flush interval keeps the tests' waits short.
    env = child_environment(settings, os.environ)
    return env | {"GOVPULSE_STREAMS__FLUSH_INTERVAL_S": "0.5"} | extra


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(settings: Settings, statement: str | sql.Composed, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.namespace)))
        return conn.execute(statement, params).fetchall()


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    detail = condition.__doc__ or ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}: {detail}\n{tail}")
