"""Every dashboard query runs, as Grafana would send it, against a database the real pipeline
filled (simulated feeds → broker → Faust worker → PostgreSQL), through the read-only role."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.calibration import local_day
from connectors.faults import FaultConfig
from connectors.simulation import SimulationConfig
from dashboards.catalogue import build_all
from govpulse.alerts.rules import parse_rules
from govpulse.alerts.store import add_silence
from govpulse.db.roles import READER_ROLE
from govpulse.settings import AlertSettings, Settings
from govpulse.topics import FEEDS
from streams.alerting.evaluator import AlertEvaluator
from tests.grafana_sql import expand_macros, interpolate
from tests.integration.test_alerting import ManualClock
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

START = local_day(2024, 10, 1).replace(hour=8)
INCIDENT_DAYS = (local_day(2024, 10, 1), local_day(2024, 10, 3))
BUSIEST = (
    "SELECT d.agency FROM dossier_minute d JOIN reference.agencies a "
    "ON a.code = d.agency AND a.scheme = '2024' WHERE a.level = %s "
    "GROUP BY 1 ORDER BY sum(events) DESC LIMIT 1"
)
TABLES = ("dossier_minute", "payment_minute", "ndxp_minute", "incident_minute", "document_minute")


def fill(settings: Settings, log: Path) -> None:
    """A quarter working hour of the busy feeds and two days of incidents, through a worker."""
    busy = SimulationConfig(
        seed=5, scale=0.05, feeds=tuple(f for f in FEEDS if f != "cyber.incidents")
    )
    # Some malformed events, so that the panels of invalid input have rows to show.
    faults = FaultConfig(seed=5, malformed_rate=0.01)
    produce(settings.kafka, settings.namespace, busy, START, START + timedelta(minutes=15), faults)
    rare = SimulationConfig(seed=5, scale=1.0, feeds=("cyber.incidents",))
    produce(settings.kafka, settings.namespace, rare, *INCIDENT_DAYS)
    worker = start_worker(worker_env(settings), log)
    try:

        def every_table_has_rows() -> bool:
            counts = [query(settings, f"SELECT count(*) FROM {name}")[0][0] for name in TABLES]  # noqa: S608
            health = query(settings, "SELECT count(DISTINCT feed) FROM pipeline_health")[0][0]
            every_table_has_rows.__doc__ = (
                f"rows {dict(zip(TABLES, counts, strict=True))}, health feeds {health}"
            )
            rejects = query(settings, "SELECT count(*) FROM pipeline_rejects")[0][0]
            return bool(min(counts) > 0 and health == len(FEEDS) and rejects)

        wait_for(every_table_has_rows, 60, "rows in every table", log)
        wait_for(
            lambda: bool(query(settings, "SELECT count(*) FROM raw_events")[0][0]),
            10,
            "archive",
            log,
        )
    finally:
        stop_worker(worker)
    alert_history(settings)


def alert_history(settings: Settings) -> None:
    """Alerts over the incident days, evaluated hour by hour (some fire and resolve, the last
    day's still fire), notifications owed to a receiver that is down, and a silence."""
    rules = parse_rules(
        {
            "rules": [
                {
                    "name": "incidents", "measure": "incidents_detected",
                    "params": {"window_minutes": 1440, "severities": ["low", "medium", "high",
                                                                      "critical"]},
                    "group_by": ["agency", "severity"], "threshold": 0,
                    "summary": "{value:.0f} {severity} incidents at {agency}",
                    "runbook_url": "https://runbooks.govpulse.example/incidents",
                }
            ]
        }
    )  # fmt: skip
    alerting = settings.model_copy(
        update={"alerts": AlertSettings(webhook_urls=("http://127.0.0.1:9/down",))}
    )
    clock = ManualClock(INCIDENT_DAYS[0])
    evaluator = AlertEvaluator(alerting, rules, clock=clock)

    async def evaluate() -> int:
        transitions = 0
        while clock.now <= INCIDENT_DAYS[1]:
            transitions += len(await evaluator.evaluate_once())
            clock.now += timedelta(hours=1)
        await evaluator.close()
        return transitions

    assert asyncio.run(evaluate()) > 0
    add_silence(settings, {"severity": "low"}, timedelta(hours=2), "maintenance", "test")


def reader_session(settings: Settings) -> psycopg.Connection[Any]:
    """A connection that reads as govpulse_reader, as Grafana's login role does."""
    conn = psycopg.connect(settings.db.conninfo(), autocommit=True)
    try:
        conn.execute(f"SET ROLE {READER_ROLE}")
    except psycopg.errors.InsufficientPrivilege:
        # The test's login role may grant itself the reader role (it created it in migrate).
        conn.execute(f"GRANT {READER_ROLE} TO CURRENT_USER")
        conn.execute(f"SET ROLE {READER_ROLE}")
    return conn


def test_every_dashboard_query_runs_on_pipeline_data(
    stream_settings: Settings, tmp_path: Path
) -> None:
    fill(stream_settings, tmp_path / "worker.log")
    timescaledb = bool(
        query(stream_settings, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    )
    every = [
        r[0]
        for r in query(
            stream_settings,
            "SELECT code FROM reference.agencies WHERE scheme = '2024' ORDER BY level, code",
        )
    ]
    few = [
        query(
            stream_settings,
            BUSIEST,
            level,
        )[0][0]
        for level in ("ministry", "province")
    ] + [
        query(
            stream_settings, "SELECT agency FROM incident_minute WHERE stage = 'detected' LIMIT 1"
        )[0][0]
    ]
    # The range spans the event-time window and now (pipeline health is per wall-clock minute).
    start, end = INCIDENT_DAYS[0] - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5)
    failures: list[str] = []
    ran = 0
    with reader_session(stream_settings) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (READER_ROLE,)
        for agencies in (every, few):
            variables = {
                "namespace": stream_settings.namespace,
                "agency": agencies,
                "interval": "1m",
            }
            for file_name, dashboard in build_all().items():
                annotations = {
                    "title": "annotations", "type": "annotations",
                    "fieldConfig": {"defaults": {"unit": ""}, "overrides": []},
                    "targets": [
                        a["target"] for a in dashboard["annotations"]["list"] if "target" in a
                    ],
                }  # fmt: skip
                for panel in [*dashboard["panels"], annotations]:
                    for target in panel.get("targets", []):
                        where = f"{file_name} / {panel['title']} ({len(agencies)} agencies)"
                        sql = interpolate(target["rawSql"], variables, multi={"agency"})
                        sql = expand_macros(
                            sql, start, end, timedelta(minutes=1), timescaledb=timescaledb
                        )
                        try:
                            cursor = conn.execute(sql.encode())
                            rows = cursor.fetchall()
                        except psycopg.Error as exc:
                            failures.append(f"{where}: {str(exc).strip()}\n  {sql}")
                            continue
                        ran += 1
                        columns = [c.name for c in cursor.description or ()]
                        failures += check(where, panel, target, columns, rows)
    assert not failures, "\n".join(failures)
    assert ran == 2 * sum(
        len(p.get("targets", [])) for d in build_all().values() for p in d["panels"]
    ) + 2 * sum(1 for d in build_all().values() for a in d["annotations"]["list"] if "target" in a)


def check(
    where: str,
    panel: dict[str, Any],
    target: dict[str, Any],
    columns: list[str],
    rows: list[tuple[Any, ...]],
) -> list[str]:
    problems = []
    if not rows:
        problems.append(f"{where}: no rows")
    # A rate whose denominator is empty in this window (no completions within 15 minutes of
    # submissions) is NULL by design: Grafana shows "No data" rather than a false 0 %.
    elif (
        any(all(v is None for v in row) for row in rows)
        and panel["type"] != "table"
        and panel["fieldConfig"]["defaults"]["unit"] != "percentunit"
    ):
        problems.append(f"{where}: a row of NULLs {rows[:3]}")
    if target["format"] == "time_series":
        if columns[:1] != ["time"]:
            problems.append(f"{where}: first column {columns[:1]}, not time")
        times = [row[0] for row in rows]
        if times != sorted(times):
            problems.append(f"{where}: not sorted by time")
        if "metric" in columns and columns != ["time", "metric", "value"]:
            problems.append(f"{where}: long format needs time, metric, value: {columns}")
    for override in panel["fieldConfig"]["overrides"]:
        name = override["matcher"]["options"]
        if name not in columns:
            problems.append(f"{where}: override for missing column {name} in {columns}")
    if panel["type"] == "geomap":
        layer = panel["options"]["layers"][0]["config"]["style"]
        needed = {"lat", "lon", "name", layer["color"]["field"], layer["size"]["field"]}
        if not needed <= set(columns):
            problems.append(f"{where}: geomap needs {sorted(needed - set(columns))}")
    return problems
