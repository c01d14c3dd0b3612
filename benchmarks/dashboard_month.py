"""Every panel of every dashboard over 30 days of national data: how long the database takes.

Loads a month of minute rows at scale 1.0 into a namespace of its own, in the state a month of
the live pipeline leaves (rollups materialized as far as live's refresh policies go,
chunks older than 7 days compressed), then runs each panel query as Grafana sends it for the
range "last 30 days" (all agencies, the auto interval), as the read-only role, and prints the
time of each and p50 / p95 per dashboard. The budget is 500 ms a panel.

The month is built from two simulated days, not 130 million simulated events (half an hour of
simulation): a Tuesday (1 October 2024) and a Sunday (6 October 2024) at the chosen scale run
through the calibrated simulators and the workers' own per-event contributions
(`streams.measures`) into minute rows; each of the last 30 Vietnam days gets the Tuesday's rows
(Monday to Friday) or the Sunday's (weekends), moved to its date. Pipeline health gets one
synthetic row per minute and feed. The raw-event archive stays empty (a month of raw events is
another benchmark): the one panel reading it is timed on an empty table.

Run from the repository root (it uses the tests' Grafana query expansion), against TimescaleDB:

    GOVPULSE_DB__...=... python -m benchmarks.dashboard_month [--scale 1.0] [--runs 5]

It drops and recreates its namespace (`benchmonth` by default); nothing else is touched.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from connectors.calendar import VIETNAM_TZ
from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from dashboards.catalogue import build_all
from govpulse import histogram
from govpulse.db.connection import connect
from govpulse.db.migrate import drop_namespace, migrate
from govpulse.db.roles import READER_ROLE
from govpulse.db.tables import AGGREGATE_TABLES, AggregateTable
from govpulse.settings import Settings
from streams.measures import CONTRIBUTIONS
from tests.grafana_sql import expand_macros, interpolate

TEMPLATE_DAYS = {"weekday": local_day(2024, 10, 1), "weekend": local_day(2024, 10, 6)}
DAYS = 30
BUDGET_MS = 500.0
# Grafana's auto interval for 30 days: the range over the variable's auto_count (60), 12h.
AUTO_INTERVAL = "12h"
# Where live's refresh policies stop short of now (migrations 0007, 0030, 0032).
HOURLY_REFRESH_END = timedelta(minutes=5)
DAILY_REFRESH_END = timedelta(hours=1)

Row = tuple[Any, ...]


def template_rows(kind: str, scale: float) -> dict[str, list[Row]]:
    """One simulated Vietnam day as minute rows per table, buckets as seconds into the day."""
    day = TEMPLATE_DAYS[kind]
    sums: dict[str, dict[tuple[Any, ...], list[Any]]] = {f: {} for f in AGGREGATE_TABLES}
    for feed, event in simulate(SimulationConfig(seed=14, scale=scale), day, day + timedelta(1)):
        table = AGGREGATE_TABLES[feed]
        part = CONTRIBUTIONS[feed](event)
        offset = int((event.occurred_at - day).total_seconds()) // 60 * 60
        key = (offset, event.agency, *part.dimensions)
        row = sums[feed].get(key)
        if row is None:
            row = [0] * len(table.measures) + [histogram.empty() for _ in table.histograms]
            sums[feed][key] = row
        for index, increment in enumerate(part.measures):
            row[index] += increment
        for index, value in enumerate(part.histogram_values):
            if value is not None:
                row[len(table.measures) + index][histogram.bucket_of(value)] += 1
    return {
        AGGREGATE_TABLES[f].name: [(*k, *v) for k, v in rows.items()] for f, rows in sums.items()
    }


def load(
    settings: Settings,
    templates: dict[str, dict[str, list[Row]]],
    end: datetime,
    since: datetime | None = None,
) -> int:
    """The month's minute rows: COPY of the two template days into a staging table, then one
    INSERT … SELECT per day and table, shifted to its date (the server does the copying).

    With `since`, only the minutes from `since` to `end` (a reused month topped up to now)."""
    namespace = settings.namespace
    # Whole Vietnam days, the first one before the start of the 30-day range, the last cut at end.
    today = end.astimezone(VIETNAM_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=DAYS)
    since = since or first_day
    total = 0
    began = time.monotonic()
    with connect(settings.db, autocommit=True) as conn:
        for table in AGGREGATE_TABLES.values():
            stage = sql.Identifier(f"stage_{table.name}")
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (kind text, offset_s integer, {})").format(
                    stage, _column_definitions(table)
                )
            )
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(stage)) as copy:
                for kind, tables in templates.items():
                    for row in tables[table.name]:
                        copy.write_row((kind, *row))
            conn.execute(sql.SQL("ANALYZE {}").format(stage))
            columns = sql.SQL(", ").join(map(sql.Identifier, table.columns[1:]))
            for day in range(DAYS + 1):
                start = first_day + timedelta(days=day)
                if start + timedelta(days=1) <= since:
                    continue
                kind = "weekend" if start.weekday() >= 5 else "weekday"
                # Ordered by time: each day's rows go to their own chunk in index order.
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (bucket, {}) SELECT %s + offset_s * interval '1 second', "
                        "{} FROM {} WHERE kind = %s "
                        "AND %s + offset_s * interval '1 second' >= %s "
                        "AND %s + offset_s * interval '1 second' < %s ORDER BY offset_s"
                    ).format(sql.Identifier(namespace, table.name), columns, columns, stage),
                    (start, kind, start, since, start, end),
                )
                total += inserted.rowcount
                if day % 10 == 9 or day == DAYS:
                    _progress(f"  {table.name}: {day + 1}/{DAYS + 1} days, {total:,} rows", began)
            conn.execute(sql.SQL("DROP TABLE {}").format(stage))
        _fill_pipeline_health(conn, namespace, since, end)
    return total


def loaded_until(settings: Settings) -> datetime | None:
    """The minute after the newest minute row of a kept month (every table is loaded to the
    same end), or None when the namespace holds none."""
    with connect(settings.db, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT max(bucket) + interval '1 minute' FROM {}").format(
                sql.Identifier(settings.namespace, "dossier_minute")
            )
        ).fetchone()
    return row[0] if row else None


def _progress(message: str, began: float) -> None:
    print(f"{message} ({time.monotonic() - began:.0f} s)", flush=True)


def _column_definitions(table: AggregateTable) -> sql.Composable:
    types = ["text"] * (1 + len(table.dimensions)) + ["bigint"] * len(table.measures)
    types += ["bigint[]"] * len(table.histograms)
    if "protection_level" in table.dimensions:
        types[1 + table.dimensions.index("protection_level")] = "smallint"
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in zip(table.columns[1:], types, strict=True)
    )


def _fill_pipeline_health(
    conn: psycopg.Connection[Any], namespace: str, start: datetime, end: datetime
) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (bucket, feed, worker, events_in, invalid, late, duplicates, "
            "last_event_at, flush_latency_ms_max, consumer_lag) "
            "SELECT m, f, 'bench-worker', 100 + (extract(epoch FROM m)::bigint %% 97), 0, 0, 0, "
            "m + interval '50 seconds', 40, 10 "
            "FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', "
            "interval '1 minute') AS m, unnest(%s::text[]) AS f"
        ).format(sql.Identifier(namespace, "pipeline_health")),
        (start, end, list(AGGREGATE_TABLES)),
    )


def settle(settings: Settings, *, compress: bool = True) -> tuple[float, float]:
    """A month of policies' work: rollups refreshed as live's policies leave them (hourly to 5
    minutes ago, daily to an hour ago), older chunks compressed.

    Every continuous aggregate of the namespace is refreshed once, parents before the rollups
    built on them (creation order), over the month: the hourly ones read the minute rows (the
    expensive pass, done a week at a time to show progress), the daily ones read the hourly
    rollups. Returns the seconds each step took. On plain PostgreSQL it does nothing.
    """
    namespace = settings.namespace
    with connect(settings.db, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            return 0.0, 0.0
        began = time.monotonic()
        views = [
            row[0]
            for row in conn.execute(
                "SELECT format('%%I.%%I', view_schema, view_name) "
                "FROM timescaledb_information.continuous_aggregates WHERE view_schema = %s "
                "ORDER BY substring(materialization_hypertable_name FROM '[0-9]+$')::integer",
                (namespace,),
            ).fetchall()
        ]
        # Windows start on whole hours: consecutive windows must meet on a bucket boundary, or
        # the hour that straddles them would be materialized by neither. Each ends where live's
        # policy ends (0032): hourly rollups 5 minutes ago, daily ones an hour ago.
        now = datetime.now(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0)
        for view in views:
            hourly = view.endswith("_hourly")
            window = timedelta(days=7) if view.endswith("_minute_hourly") else timedelta(DAYS + 3)
            end = now - (HOURLY_REFRESH_END if hourly else DAILY_REFRESH_END)
            since = hour - timedelta(days=DAYS + 2)
            while since < end:
                until = min(since + window, end)
                conn.execute(
                    "CALL refresh_continuous_aggregate(%s::regclass, %s, %s)",
                    (view, since, until),
                )
                since = until
            _progress(f"  refreshed {view}", began)
        refreshed = time.monotonic() - began
        began = time.monotonic()
        if compress:
            for table in AGGREGATE_TABLES.values():
                relation = sql.Identifier(namespace, table.name).as_string(conn)
                conn.execute(
                    "SELECT compress_chunk(c, if_not_compressed => true) "
                    "FROM show_chunks(%s::regclass, older_than => interval '7 days') c",
                    (relation,),
                )
                _progress(f"  compressed {table.name}", began)
        compressed = time.monotonic() - began
        conn.execute(sql.SQL("ANALYZE"))
    return refreshed, compressed


def panel_queries(namespace: str, agencies: list[str]) -> Iterable[tuple[str, str, str]]:
    """(dashboard, panel title, SQL as Grafana sends it) for the last 30 days, all agencies."""
    end = datetime.now(UTC)
    start = end - timedelta(days=DAYS)
    variables = {"namespace": namespace, "agency": agencies, "interval": AUTO_INTERVAL}
    for file_name, dashboard in build_all().items():
        for panel in dashboard["panels"]:
            for index, target in enumerate(panel.get("targets", [])):
                text = interpolate(target["rawSql"], variables, multi={"agency"})
                text = expand_macros(text, start, end, timedelta(hours=12), timescaledb=True)
                title = panel["title"] + (f" [{index}]" if index else "")
                yield file_name, title, text


def time_panels(settings: Settings, runs: int) -> dict[str, list[tuple[str, float]]]:
    """Per dashboard, each panel's median time in ms over `runs` runs after one warm-up."""
    results: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with connect(settings.db, autocommit=True) as conn:
        agencies = [
            row[0]
            for row in conn.execute(
                "SELECT code FROM reference.agencies WHERE scheme = '2024' ORDER BY level, code"
            ).fetchall()
        ]
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(READER_ROLE)))
        for file_name, title, text in panel_queries(settings.namespace, agencies):
            conn.execute(text.encode()).fetchall()
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                conn.execute(text.encode()).fetchall()
                times.append((time.perf_counter() - began) * 1000)
            results[file_name].append((title, statistics.median(times)))
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--namespace", default="benchmonth")
    parser.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    parser.add_argument(
        "--templates",
        type=Path,
        help="a pickle of the simulated days: read if it exists, else written",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the namespace a --keep run left: migrated, topped up to now, refreshed again",
    )
    parser.add_argument(
        "--no-compress", action="store_true", help="leave the older minute chunks uncompressed"
    )
    args = parser.parse_args(argv)
    settings = Settings().model_copy(update={"namespace": args.namespace})
    if not args.reuse:
        drop_namespace(settings, args.namespace)
    report = migrate(settings)
    print(f"namespace {args.namespace}: timescaledb {report.timescaledb or 'absent (plain)'}")
    began = time.monotonic()
    if args.templates and args.templates.exists():
        templates = pickle.loads(args.templates.read_bytes())  # our own file
    else:
        templates = {kind: template_rows(kind, args.scale) for kind in TEMPLATE_DAYS}
        if args.templates:
            args.templates.write_bytes(pickle.dumps(templates))
    per_day = {k: sum(map(len, t.values())) for k, t in templates.items()}
    print(f"simulated template days at scale {args.scale}: {per_day} minute rows "
          f"({time.monotonic() - began:.0f} s)", flush=True)  # fmt: skip
    began = time.monotonic()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    # A kept month is topped up to now, so the recent edge the panels read is as full as on
    # the day it was loaded (the rollups' real-time part is the costly one).
    since = loaded_until(settings) if args.reuse else None
    rows = load(settings, templates, end, since)
    print(f"loaded {rows:,} minute rows from {since or 'the start'} to {end} "
          f"({time.monotonic() - began:.0f} s)", flush=True)  # fmt: skip
    refreshed, compressed = settle(settings, compress=not args.no_compress)
    print(f"rollups refreshed in {refreshed:.0f} s, chunks older than 7 days compressed in "
          f"{compressed:.0f} s", flush=True)  # fmt: skip
    results = time_panels(settings, args.runs)
    worst = 0.0
    for file_name, panels in results.items():
        for title, ms in panels:
            worst = max(worst, ms)
            flag = "" if ms <= BUDGET_MS else "  OVER BUDGET"
            print(f"  {file_name:22} {ms:8.1f} ms  {title}{flag}")
    print(f"\n{'dashboard':22} {'panels':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for file_name, panels in results.items():
        times = [ms for _, ms in panels]
        print(f"{file_name:22} {len(times):6} {percentile(times, 0.5):8.1f} "
              f"{percentile(times, 0.95):8.1f} {max(times):8.1f}")  # fmt: skip
    over = sum(ms > BUDGET_MS for panels in results.values() for _, ms in panels)
    print(f"\nslowest panel {worst:.1f} ms; {over} over the {BUDGET_MS:.0f} ms budget")
    if not args.keep:
        drop_namespace(settings, args.namespace)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
