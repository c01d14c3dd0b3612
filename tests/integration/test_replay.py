"""Record a live namespace, replay it into another: equal aggregates, idempotent, isolated."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from connectors.clock import SystemClock
from connectors.producer import BatchingProducer
from connectors.replay import recording_source, replay
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.settings import Settings
from tests.integration.test_streams import expected_totals, produce_all, totals_equal, unique_events
from tests.pipeline_helpers import query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def replay_settings(stream_settings: Settings) -> Iterator[Settings]:
    from govpulse.db.migrate import drop_namespace, migrate

    settings = stream_settings.model_copy(update={"namespace": f"r{uuid.uuid4().hex[:12]}"})
    migrate(settings)
    yield settings
    drop_namespace(settings, settings.namespace, force=True)


def all_rows(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    rows = {}
    for table in AGGREGATE_TABLES.values():
        statement = sql.SQL("SELECT {columns} FROM {table} ORDER BY {key}").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
            table=sql.Identifier(table.name),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        )
        rows[table.name] = query(settings, statement)
    return rows


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", *args]
    env = worker_env(settings)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_record_then_replay_gives_the_same_aggregates(
    stream_settings: Settings, replay_settings: Settings, tmp_path: Path
) -> None:
    live, copy = stream_settings, replay_settings
    sent, _ = produce_all(live)
    expected = expected_totals(unique_events(sent))
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(live), log)
    try:
        wait_for(totals_equal(live, expected), 120, "the live run", log)
    finally:
        stop_worker(worker)
    live_rows = all_rows(live)

    recording = tmp_path / "live.ndjson.gz"
    recorded = cli(live, "record", "--out", str(recording))
    assert recorded.returncode == 0, recorded.stderr
    assert f"recorded {expected['raw'][0]:,} events" in recorded.stdout

    # A replay stopped half-way, then started again from the beginning.
    stop = threading.Event()
    producer = BatchingProducer(copy.kafka, copy.namespace)
    from govpulse.kafka_admin import ensure_topics
    from govpulse.topics import select_feeds

    ensure_topics(copy.kafka, select_feeds(None), copy.namespace)

    class HalfWay:
        def __init__(self) -> None:
            self.count = 0

        def send(self, out: Any) -> None:
            producer.send(out)
            self.count += 1
            if self.count == expected["raw"][0] // 2:
                stop.set()

        def poll(self) -> None:
            producer.poll()

    first = replay(recording_source(recording), HalfWay(), SystemClock(), None, stop)
    producer.close()
    assert first.stopped
    replayed = cli(copy, "replay", str(recording), "--namespace", copy.namespace, "--max")
    assert replayed.returncode == 0, replayed.stderr
    assert "events/s" in replayed.stdout

    refused = cli(copy, "replay", str(recording), "--namespace", "live", "--max")
    assert (
        refused.returncode == 1 and "refusing to replay into the live namespace" in refused.stderr
    )

    copy_log = tmp_path / "replay-worker.log"
    worker = start_worker(worker_env(copy), copy_log)
    try:
        wait_for(
            lambda: all_rows(copy) == live_rows, 120, "replayed aggregates equal to live", copy_log
        )
        # Replaying the same recording again changes nothing.
        again = cli(copy, "replay", str(recording), "--namespace", copy.namespace, "--max")
        assert again.returncode == 0, again.stderr

        def received() -> int:
            statement = "SELECT coalesce(sum(events_in), 0) FROM pipeline_health"
            return int(query(copy, statement)[0][0])

        wait_for(
            lambda: received() >= 2 * expected["raw"][0],
            120,
            "the second replay consumed",
            copy_log,
        )
        assert all_rows(copy) == live_rows
    finally:
        stop_worker(worker)
    assert all_rows(live) == live_rows  # the live namespace never saw the replays
