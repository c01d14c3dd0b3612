"""Panels read the minute tables, the hourly or the daily rollups by the dashboard's range, and
give the same totals at each resolution over a range holding the same rows; as Grafana sends
them, through the read-only role, on plain PostgreSQL and on TimescaleDB (where the rollups are
refreshed first, so they are read from their materialization)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg import sql

from connectors.calibration import local_day
from dashboards import ndxp
from dashboards.variables import RESOLUTION
from govpulse import histogram
from govpulse.db.connection import connect
from govpulse.settings import Settings
from tests.grafana_sql import expand_macros, interpolate
from tests.integration.test_dashboard_queries import reader_session

pytestmark = pytest.mark.postgres

DAY = local_day(2024, 10, 1)
FIRST, LAST = DAY.replace(hour=9), DAY.replace(hour=13)  # four working hours of rows
SERVICES = ("population_identity", "business_registry", "land_registry")
AGENCIES = ("01", "79", "BCA")
# (start, end, resolution the panels must read): the rows' own four hours, four days, a month.
RANGES = (
    (FIRST, LAST, "00:01:00"),
    (DAY - timedelta(days=3), DAY + timedelta(days=1), "01:00:00"),
    (DAY - timedelta(days=20), DAY + timedelta(days=10), "1 day"),
)


def minute_rows() -> list[tuple[Any, ...]]:
    chance = random.Random(14)
    rows = []
    minute = FIRST
    while minute < LAST:
        for agency in AGENCIES:
            for service in SERVICES:
                for result in ("ok", "error", "timeout"):
                    if chance.random() < 0.4:
                        continue
                    hist = histogram.empty()
                    calls = chance.randint(1, 50)
                    for _ in range(calls):
                        hist[chance.randrange(histogram.BUCKETS)] += 1
                    latency = chance.randint(calls, 100 * calls)
                    rows.append((minute, agency, service, "BCA", result, calls, latency, 7, hist))
        minute += timedelta(minutes=1)
    return rows


def fill(settings: Settings, namespace: str) -> list[tuple[Any, ...]]:
    rows = minute_rows()
    with connect(settings.db, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {} (bucket, agency, service, provider, result, calls, "
                    "latency_ms_sum, bytes_sum, latency_hist) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                ).format(sql.Identifier(namespace, "ndxp_minute")),
                rows,
            )
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            # Materialize the rollups (replay namespaces have no refresh policy), so that the
            # hourly and daily panels read materialized rows, not only real-time aggregation.
            for suffix in ("hourly", "daily"):
                view = sql.Identifier(namespace, f"ndxp_minute_{suffix}").as_string(conn)
                conn.execute("CALL refresh_continuous_aggregate(%s::regclass, NULL, NULL)", (view,))
    return rows


def run(conn: Any, query: str, namespace: str, start: datetime, end: datetime) -> list[Any]:
    text = interpolate(
        query, {"namespace": namespace, "agency": list(AGENCIES), "interval": "1m"}, {"agency"}
    )
    text = expand_macros(text, start, end, timedelta(minutes=1), timescaledb=False)
    return list(conn.execute(text.encode()).fetchall())


def test_panels_give_the_same_totals_at_each_resolution(
    pg_settings: Settings, db_namespace: str
) -> None:
    rows = fill(pg_settings, db_namespace)
    calls = sum(row[5] for row in rows)
    by_service = {s: sum(r[5] for r in rows if r[2] == s) for s in SERVICES}
    failed = sum(row[5] for row in rows if row[4] != "ok")
    p95 = {
        s: histogram.quantile(histogram.merge(r[8] for r in rows if r[2] == s), 0.95)
        for s in SERVICES
    }
    seen = []
    with reader_session(pg_settings) as conn:
        for start, end, resolution in RANGES:
            chosen = run(conn, f"SELECT {RESOLUTION}::text", db_namespace, start, end)
            assert chosen == [(resolution,)], (start, end)
            # Calls per second by service, in buckets of the resolution: back to counts.
            series = run(conn, ndxp.CALLS_PER_SECOND.sql, db_namespace, start, end)
            width_s = {"00:01:00": 60, "01:00:00": 3600, "1 day": 86400}[resolution]
            per_service: dict[str, float] = {}
            for _, service, value in series:
                per_service[service] = per_service.get(service, 0.0) + float(value) * width_s
            assert {s: round(v) for s, v in per_service.items()} == by_service, resolution
            # The stat over the whole range, and the failure share.
            (rate,) = run(conn, ndxp.TOTAL_RATE.sql, db_namespace, start, end)[0]
            assert round(float(rate) * (end - start).total_seconds()) == calls
            (share,) = run(conn, ndxp.TOTAL_FAILURE.sql, db_namespace, start, end)[0]
            assert share == pytest.approx(failed / calls)
            # The provider table: calls and p95 from merged histograms, per service.
            table = run(conn, ndxp.BY_SERVICE.sql, db_namespace, start, end)
            assert {r[0]: (r[3], r[7]) for r in table} == {
                s: (by_service[s], pytest.approx(p95[s])) for s in SERVICES
            }
            seen.append(len(series))
    # Coarser rows, fewer points: the reason for reading the rollups.
    assert seen[0] > seen[1] > seen[2] > 0
