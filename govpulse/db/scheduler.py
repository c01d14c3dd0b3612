"""TimescaleDB's background jobs (policies) per namespace and the database's job scheduler.

Read by `govpulse db status` and the migration runner; the runner also restarts a scheduler that
is gone. Each database with the extension has one scheduler process (pg_stat_activity's
backend_type and application_name `TimescaleDB Background Worker Scheduler`); it starts every
policy job. When it dies
(for instance as a deadlock victim) no policy of that database runs again: no rollup refresh,
compression or retention, and TimescaleDB restarts it only if
`timescaledb.bgw_scheduler_restart_time` is set (its default, -1, means never).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import TupleRow

from govpulse.db.connection import one_line

log = logging.getLogger(__name__)

_SCHEDULER = "TimescaleDB%Scheduler"


@dataclass(frozen=True, slots=True)
class Job:
    job_id: int
    proc_name: str  # policy_refresh_continuous_aggregate, policy_compression, policy_retention
    relation: str  # the hypertable or continuous aggregate, without schema
    schedule_interval: timedelta
    scheduled: bool
    last_run_started_at: datetime | None
    last_run_status: str | None  # Success / Failed; None before the first run
    total_runs: int
    total_failures: int
    next_start: datetime | None
    last_error: str | None  # the newest recorded failure's message


# Continuous aggregates' policies name their materialization hypertable in `jobs`; the view's
# own name is what operators know. A job that never ran has -infinity times, which Python's
# datetime cannot hold: they read as None.
_JOBS = """
SELECT j.job_id, j.proc_name::text, coalesce(c.view_name, j.hypertable_name)::text,
       j.schedule_interval, j.scheduled,
       CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END,
       s.last_run_status, coalesce(s.total_runs, 0), coalesce(s.total_failures, 0),
       CASE WHEN isfinite(s.next_start) THEN s.next_start END,
       (SELECT e.err_message FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.finish_time DESC LIMIT 1)
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.continuous_aggregates c
    ON c.materialization_hypertable_schema = j.hypertable_schema
   AND c.materialization_hypertable_name = j.hypertable_name
LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
WHERE coalesce(c.view_schema, j.hypertable_schema) = %s
ORDER BY 3, 2, 1
"""


def namespace_jobs(conn: psycopg.Connection[TupleRow], namespace: str) -> list[Job]:
    """The policy jobs on the namespace's hypertables and rollups, by relation and kind."""
    return [Job(*row) for row in conn.execute(_JOBS, (namespace,)).fetchall()]


def scheduler_alive(conn: psycopg.Connection[TupleRow]) -> bool:
    """Whether this database's TimescaleDB job scheduler process is running."""
    row = conn.execute(
        # Without pg_read_all_stats a role sees other roles' backend_type as NULL, but still
        # their application_name, which TimescaleDB sets to the same text.
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
        "AND coalesce(backend_type, application_name) LIKE %s",
        (_SCHEDULER,),
    ).fetchone()
    return row is not None


def restart_scheduler(conn: psycopg.Connection[TupleRow]) -> bool:
    """Ask TimescaleDB to start this database's scheduler; False (logged) when it refuses."""
    try:
        with conn.transaction():
            conn.execute("SELECT _timescaledb_functions.start_background_workers()")
    except psycopg.Error as exc:
        log.warning("could not restart the TimescaleDB job scheduler (%s)", one_line(exc))
        return False
    return True
