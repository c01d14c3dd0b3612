"""On a real TimescaleDB with its job scheduler running: migrating many namespaces one after the
other gives `live` its time-based policies and every other namespace none, and leaves the
database's scheduler alive (issue 14, finding 1: policies added by one migration and removed by
a later one raced the scheduler, which could die as the deadlock victim and never come back)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from govpulse.db.connection import connect
from govpulse.db.migrate import drop_namespace, list_namespaces, migrate, status
from govpulse.db.migration_files import applicable, discover
from govpulse.db.scheduler import namespace_jobs, scheduler_alive
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.settings import Settings
from tests.integration.test_database import db_env

pytestmark = [pytest.mark.postgres, pytest.mark.timescaledb, pytest.mark.slow]

# live: compression and retention on the five minute tables and raw_events (12), retention on
# pipeline_health (1), a refresh policy on the sixteen rollups (ten, the two headline ones of
# 0031 and the four narrower ones of 0032), retention on the eight hourly ones.
NARROW = ("dossier_headline", "dossier_field", "ndxp_latency")
LIVE_POLICIES = {
    "policy_compression": 6,
    "policy_retention": 15,
    "policy_refresh_continuous_aggregate": 16,
}


@pytest.fixture
def timescale_settings(pg_settings: Settings) -> Settings:
    with connect(pg_settings.db, autocommit=True) as conn:
        preloaded = conn.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers'"
        ).fetchone()
    if preloaded is None:
        pytest.skip(f"timescaledb is not preloaded in PostgreSQL at {pg_settings.db.describe()}")
    return pg_settings


def wait_for_scheduler(settings: Settings, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with connect(settings.db, autocommit=True) as conn:
            if scheduler_alive(conn):
                return True
        time.sleep(0.5)
    return False


@pytest.fixture
def live_namespace(timescale_settings: Settings) -> Iterator[Settings]:
    """`live` migrated (its policies keep the scheduler busy); dropped after if it was new."""
    existed = "live" in list_namespaces(timescale_settings)
    settings = timescale_settings.model_copy(update={"namespace": "live"})
    migrate(settings)
    try:
        yield settings
    finally:
        if not existed:
            drop_namespace(settings, "live", force=True)


def test_a_dozen_namespaces_migrate_while_the_scheduler_runs(live_namespace: Settings) -> None:
    settings = live_namespace
    assert wait_for_scheduler(settings), "the TimescaleDB scheduler of this database is not running"
    names = [f"race{uuid.uuid4().hex[:8]}" for _ in range(12)]
    try:
        for name in names:
            migrate(settings.model_copy(update={"namespace": name}))
            # Due jobs start within the scheduler's poll; give each namespace's the chance to.
            time.sleep(0.2)
        time.sleep(2)  # anything still running when the last migration returned finishes
        with connect(settings.db, autocommit=True) as conn:
            for name in names:
                assert namespace_jobs(conn, name) == [], name
            live = [job.proc_name for job in namespace_jobs(conn, "live")]
            assert {name: live.count(name) for name in set(live)} == LIVE_POLICIES
        assert wait_for_scheduler(settings, timeout_s=5), "the scheduler died during migrations"
        shown = status(settings)
        assert shown.scheduler_alive is True
        assert sorted(job.relation for job in shown.jobs) == sorted(
            [*(f"{t.name}{s}" for t in AGGREGATE_TABLES.values() for s in ("", "", "_hourly",
               "_hourly", "_daily")), "raw_events", "raw_events", "pipeline_health",
             *(f"{n}{s}" for n in NARROW for s in ("_hourly", "_hourly", "_daily"))]
        )  # fmt: skip
        printed = subprocess.run(
            [sys.executable, "-m", "cli.main", "db", "status", "--namespace", "live"],
            env=os.environ | {"COLUMNS": "250"} | db_env(settings),
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert "TimescaleDB job scheduler of this database: running" in printed.stdout
        assert printed.stdout.count("refresh_continuous_aggregate") == 16
        with connect(settings.db, autocommit=True) as conn:
            refreshes = conn.execute(
                "SELECT c.user_view_name, j.schedule_interval, j.config ->> 'end_offset' "
                "FROM timescaledb_information.jobs j JOIN _timescaledb_catalog.continuous_agg c "
                "ON c.mat_hypertable_id = (j.config ->> 'mat_hypertable_id')::integer "
                "WHERE c.user_view_schema = 'live'"
            ).fetchall()
        # 0032: hourly rollups every 5 minutes up to 5 minutes ago, daily ones hourly, an hour back.
        assert len(refreshes) == 16
        for view, every, end_offset in refreshes:
            hourly = view.endswith("_hourly")
            assert every == timedelta(minutes=5 if hourly else 60), view
            assert end_offset == ("00:05:00" if hourly else "01:00:00"), view
    finally:
        for name in names:
            drop_namespace(settings.model_copy(update={"namespace": name}), name)


def test_a_replay_namespace_never_holds_a_policy_between_two_migrations(
    timescale_settings: Settings, namespace: str
) -> None:
    # Whatever the scheduler does, it can only start a job that exists once a migration commits:
    # checked after each file, not only at the end.
    settings = timescale_settings.model_copy(update={"namespace": namespace})
    try:
        for migration in applicable(discover(), timescaledb=True):
            report = migrate(settings, until=migration.version)
            assert report.timescaledb is not None
            with connect(settings.db, autocommit=True) as conn:
                assert namespace_jobs(conn, namespace) == [], migration.file_name
        assert report.scheduler_alive is True
    finally:
        drop_namespace(settings, namespace)
