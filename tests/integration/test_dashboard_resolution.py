"""Panels read the minute tables, the hourly or the daily rollups by the dashboard's range, and
give the same totals at each resolution over a range holding the same rows; as Grafana sends
them, through the read-only role, on plain PostgreSQL and on TimescaleDB (where the rollups are
read materialized, partly materialized with the minute rows beyond their watermark, or never
materialized, through their `_rows` views)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg import sql

from connectors.calibration import local_day
from dashboards import ndxp, public_services
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


def fill(settings: Settings, namespace: str, refresh: str = "all") -> list[tuple[Any, ...]]:
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
        refresh_rollups(conn, namespace, refresh)
    return rows


# How far the rollups are materialized when the panels run: completely; hourly rollups up to
# the middle of the rows and daily ones not at all (the `_rows` views then join materialized
# hourly buckets to minute rows at the hourly watermark, as live's policies leave them an hour
# at a time); or never (a replay namespace). Only TimescaleDB materializes anything.
REFRESHES = ("all", "hourly-to-midday", "none")
MIDDAY = DAY.replace(hour=11)


def refresh_rollups(
    conn: Any, namespace: str, refresh: str = "all", filled: str = "ndxp_minute"
) -> None:
    """On TimescaleDB, materialize the rollups of the namespace as `refresh` says (replay
    namespaces have no refresh policy), parents before the rollups built on them, so that the
    hourly and daily panels read materialized rows, not only the minute edge. `filled` is the
    minute table holding the rows. Nothing on plain PostgreSQL."""
    if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        return
    views = conn.execute(
        "SELECT format('%%I.%%I', view_schema, view_name) "
        "FROM timescaledb_information.continuous_aggregates WHERE view_schema = %s "
        "ORDER BY substring(materialization_hypertable_name FROM '[0-9]+$')::integer",
        (namespace,),
    ).fetchall()
    assert len(views) == 16
    for (view,) in views:
        if refresh == "all":
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, NULL, NULL)", (view,))
        elif refresh == "hourly-to-midday" and view.endswith("_hourly"):
            conn.execute(
                "CALL refresh_continuous_aggregate(%s::regclass, NULL, %s)", (view, MIDDAY)
            )
    if refresh == "hourly-to-midday":
        (mark,) = conn.execute(
            "SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark("
            "(SELECT mat_hypertable_id FROM _timescaledb_catalog.continuous_agg "
            "WHERE user_view_schema = %s AND user_view_name = %s)))",
            (namespace, f"{filled}_hourly"),
        ).fetchone()
        assert mark == MIDDAY  # the edge really lies inside the rows


def run(conn: Any, query: str, namespace: str, start: datetime, end: datetime) -> list[Any]:
    text = interpolate(
        query, {"namespace": namespace, "agency": list(AGENCIES), "interval": "1m"}, {"agency"}
    )
    text = expand_macros(text, start, end, timedelta(minutes=1), timescaledb=False)
    return list(conn.execute(text.encode()).fetchall())


@pytest.mark.parametrize("refresh", REFRESHES)
def test_panels_give_the_same_totals_at_each_resolution(
    pg_settings: Settings, db_namespace: str, refresh: str
) -> None:
    rows = fill(pg_settings, db_namespace, refresh)
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


CHANNELS, MODES = ("portal", "vneid", "one_stop"), ("full_online", "partial_online", "offline")
STATUSES, FIELDS = ("submitted", "completed", "rejected"), ("residence", "justice", "land")


def dossier_rows() -> list[tuple[Any, ...]]:
    """(bucket, agency, channel, mode, status, field, events, on_time, overdue, fee_vnd)."""
    chance = random.Random(41)
    rows = []
    minute = FIRST
    while minute < LAST:
        for agency in AGENCIES:
            for channel in CHANNELS:
                for mode in MODES:
                    for status in STATUSES:
                        for field in FIELDS:
                            if chance.random() < 0.7:
                                continue
                            events = chance.randint(1, 9)
                            done = events if status == "completed" else 0
                            on_time = chance.randint(0, done)
                            fee = 10_000 * events if status == "submitted" else 0
                            rows.append((minute, agency, channel, mode, status, field, events,
                                         on_time, done - on_time, fee))  # fmt: skip
        minute += timedelta(minutes=5)
    return rows


@pytest.mark.parametrize("refresh", REFRESHES)
def test_dossier_panels_give_the_same_totals_from_the_headline_and_the_field_rollups(
    pg_settings: Settings, db_namespace: str, refresh: str
) -> None:
    # Most dossier panels read the headline rollups (no field dimension), the Fields table the
    # field ones (no channel or mode): both must agree with the minute rows at every resolution.
    rows = dossier_rows()
    with connect(pg_settings.db, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {} (bucket, agency, channel, mode, status, field, events, "
                    "on_time, overdue, fee_vnd) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                ).format(sql.Identifier(db_namespace, "dossier_minute")),
                rows,
            )
        refresh_rollups(conn, db_namespace, refresh, "dossier_minute")

    def submitted(key: int, value: str) -> int:
        return sum(r[6] for r in rows if r[key] == value and r[4] == "submitted")

    by_channel = {c: submitted(2, c) for c in CHANNELS}
    by_field = {f: (submitted(5, f), sum(r[8] for r in rows if r[5] == f)) for f in FIELDS}

    def total(key: int, agency: str) -> int:
        return sum(r[key] for r in rows if r[1] == agency)

    by_agency = {a: (submitted(1, a), total(8, a), total(9, a)) for a in AGENCIES}
    with reader_session(pg_settings) as conn:
        for start, end, resolution in RANGES:
            series = run(conn, public_services.SUBMISSIONS_BY_CHANNEL.sql, db_namespace, start, end)
            width_min = {"00:01:00": 1, "01:00:00": 60, "1 day": 1440}[resolution]
            per_channel: dict[str, float] = {}
            for _, channel, value in series:
                per_channel[channel] = per_channel.get(channel, 0.0) + float(value) * width_min
            assert {c: round(v) for c, v in per_channel.items()} == by_channel, resolution
            table = run(conn, public_services.BY_FIELD.sql, db_namespace, start, end)
            assert {r[0]: (r[1], r[3]) for r in table} == by_field, resolution
            table = run(conn, public_services.BY_AGENCY.sql, db_namespace, start, end)
            assert {r[0]: (r[3], r[6], r[7]) for r in table} == by_agency, resolution
