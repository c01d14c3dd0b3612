"""`govpulse report` over data that went through the real pipeline: feeds → broker → worker →
rollups, checked against counts read independently from the raw archive (`raw_events` payloads).

The window runs from 29 October to the morning of 1 November (Vietnam time), so the month's end
and a day boundary that is not a UTC one are both crossed: the report of October must count the
events of 29 to 31 October and none of November.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any, LiteralString

import orjson
import pytest
from psycopg import sql

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig
from govpulse.db.connection import connect
from govpulse.settings import Settings
from govpulse.topics import FEEDS
from reports.monthly import MonthlyReport
from reports.report import produce
from tests.pipeline_helpers import produce as produce_events
from tests.pipeline_helpers import query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

START = local_day(2024, 10, 29)
END = local_day(2024, 11, 1) + timedelta(hours=9)  # a November morning the report must leave out
INCIDENTS_FROM = local_day(2024, 10, 20)  # incidents are rare: more days of them
MONTH_START, MONTH_END = local_day(2024, 10, 1), local_day(2024, 11, 1)
SCALE = 0.002

# The truth, from the payloads the worker archived, for October in Vietnam time.
ARCHIVE = """
SELECT {select} FROM raw_events AS e
LEFT JOIN reference.agencies AS a ON a.scheme = '2024' AND a.code = e.payload->>'agency'
WHERE e.feed = %s AND e.occurred_at >= %s AND e.occurred_at < %s {where}
"""


def _archive(
    settings: Settings,
    feed: str,
    select: LiteralString,
    where: LiteralString = "",
    group: LiteralString = "",
) -> list[tuple[Any, ...]]:
    statement = sql.SQL(ARCHIVE).format(select=sql.SQL(select), where=sql.SQL(where))
    return query(settings, statement + sql.SQL(group), feed, MONTH_START, MONTH_END)


def _one(settings: Settings, feed: str, select: LiteralString, where: LiteralString = "") -> Any:
    return _archive(settings, feed, select, where)[0][0]


def _load(settings: Settings, log: Path) -> None:
    """Every simulated event through a real worker into the namespace's tables."""
    busy = SimulationConfig(
        seed=7, scale=SCALE, feeds=tuple(n for n in FEEDS if n != "cyber.incidents")
    )
    sink, _ = produce_events(settings.kafka, settings.namespace, busy, START, END)
    rare = SimulationConfig(seed=7, scale=1.0, feeds=("cyber.incidents",))
    incidents, _ = produce_events(settings.kafka, settings.namespace, rare, INCIDENTS_FROM, END)
    ids = {orjson.loads(out.value)["event_id"] for out in sink.sent + incidents.sent}
    worker = start_worker(worker_env(settings), log)
    try:

        def archived() -> bool:
            count = query(settings, "SELECT count(*) FROM raw_events")[0][0]
            archived.__doc__ = f"{count} of {len(ids)} events archived"
            return bool(count == len(ids))

        wait_for(archived, 240, "every event in the archive", log)

        def aggregated() -> bool:
            # The archive and the aggregates are written by separate agents: wait for both.
            counts = query(
                settings,
                "SELECT (SELECT coalesce(sum(events), 0) FROM dossier_minute)"
                " + (SELECT coalesce(sum(payments), 0) FROM payment_minute)"
                " + (SELECT coalesce(sum(calls), 0) FROM ndxp_minute)"
                " + (SELECT coalesce(sum(events), 0) FROM incident_minute)"
                " + (SELECT coalesce(sum(documents), 0) FROM document_minute)",
            )[0][0]
            aggregated.__doc__ = f"{counts} of {len(ids)} events aggregated"
            return bool(counts == len(ids))

        wait_for(aggregated, 120, "every event in the minute tables", log)
    finally:
        stop_worker(worker)


def test_report_equals_the_raw_archive(stream_settings: Settings, tmp_path: Path) -> None:
    settings = stream_settings
    _load(settings, tmp_path / "worker.log")
    after = query(settings, "SELECT count(*) FROM raw_events WHERE occurred_at >= %s", MONTH_END)[
        0
    ][0]
    assert after > 0, "no November event: the month's end would not be tested"
    with connect(settings.db, autocommit=True) as conn:
        report = produce(conn, settings.namespace, "2024-10", scale=SCALE)
    _check_national(report, settings)
    _check_days_and_agencies(report, settings)
    _check_cli(report, settings, tmp_path)


def _check_national(report: MonthlyReport, settings: Settings) -> None:
    stored = {f.key: f.measured for f in report.figures}
    submitted = "AND e.payload->>'status' = 'submitted'"
    dossiers = "portal.dossiers"
    total, full, portal = _archive(
        settings, dossiers,
        "count(*), count(*) FILTER (WHERE e.payload->>'mode' = 'full_online'), "
        "count(*) FILTER (WHERE e.payload->>'channel' = 'portal' "
        "AND e.payload->>'mode' IN ('full_online', 'partial_online'))",
        submitted,
    )[0]  # fmt: skip
    assert total > 1000, "too few dossiers to prove anything"
    assert stored["dossiers_synced"] == total
    assert stored["portal_online"] == portal
    assert stored["full_online_rate"] == pytest.approx(full / total)
    levels = _archive(
        settings, dossiers,
        "a.level, count(*), count(*) FILTER (WHERE e.payload->>'mode' = 'full_online'), "
        "count(*) FILTER (WHERE (e.payload->>'digitised')::boolean), "
        "count(*) FILTER (WHERE (e.payload->>'data_reused')::boolean)",
        submitted, "GROUP BY a.level",
    )  # fmt: skip
    for level, n, online, digitised, reused in levels:
        if level not in ("ministry", "province"):
            continue
        plural = {"ministry": "ministries", "province": "provinces"}[level]
        assert stored[f"full_online_rate_{plural}"] == pytest.approx(online / n), level
        assert stored[f"digitised_rate_{plural}"] == pytest.approx(digitised / n), level
        assert stored[f"data_reuse_rate_{plural}"] == pytest.approx(reused / n), level
    paid, value = _archive(
        settings, "portal.payments", "count(*), sum((e.payload->>'amount_vnd')::bigint)",
        "AND e.payload->>'status' = 'success'",
    )[0]  # fmt: skip
    assert paid > 0 and (stored["payments"], stored["payment_value_vnd"]) == (paid, value)
    sent, received, failed = _archive(
        settings, "vdxp.documents",
        "count(*) FILTER (WHERE e.payload->>'action' = 'sent'), "
        "count(*) FILTER (WHERE e.payload->>'delivery_status' IN ('delivered', 'acknowledged')), "
        "count(*) FILTER (WHERE e.payload->>'delivery_status' = 'failed')",
    )[0]  # fmt: skip
    assert sent > 0 and stored["documents_sent"] == sent
    assert (stored["documents_received"], stored["deliveries_failed"]) == (received, failed)
    assert stored["documents_total"] == sent + received
    calls, agencies = _archive(
        settings, "ndxp.transactions", "count(*), count(DISTINCT e.payload->>'agency')"
    )[0]
    assert stored["ndxp_per_day"] == pytest.approx(calls / 31)
    assert stored["ndxp_agencies"] == agencies
    requests, ok, mismatch = _archive(
        settings, "ndxp.transactions",
        "count(*), count(*) FILTER (WHERE e.payload->>'result' = 'ok'), "
        "count(*) FILTER (WHERE e.payload->>'result' = 'mismatch')",
        "AND e.payload->>'service' = 'population_identity'",
    )[0]  # fmt: skip
    assert requests > 0 and stored["verification_requests"] == requests
    assert stored["verification_match_rate"] == pytest.approx(ok / (ok + mismatch))
    detected = _one(settings, "cyber.incidents", "count(*)", "AND e.payload->>'stage' = 'detected'")
    assert detected > 0 and stored["incidents"] == detected


def _check_days_and_agencies(report: MonthlyReport, settings: Settings) -> None:
    day: LiteralString = "(e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
    per_day = dict(
        _archive(
            settings, "portal.dossiers", f"{day}, count(*)",
            "AND e.payload->>'status' = 'submitted'", "GROUP BY 1",
        )
    )  # fmt: skip
    assert set(per_day) == {date(2024, 10, d) for d in (29, 30, 31)}
    assert {d.day: d.dossiers.submitted for d in report.days if d.dossiers.submitted} == per_day
    ndxp = dict(_archive(settings, "ndxp.transactions", f"{day}, count(*)", "", "GROUP BY 1"))
    assert {d.day: d.ndxp_calls for d in report.days if d.ndxp_calls} == ndxp
    with_data = query(
        settings,
        "SELECT count(DISTINCT (occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) "
        "FROM raw_events WHERE occurred_at >= %s AND occurred_at < %s AND ("
        " feed = 'ndxp.transactions'"
        " OR (feed = 'portal.dossiers' AND payload->>'status' = 'submitted')"
        " OR (feed = 'portal.payments' AND payload->>'status' = 'success')"
        " OR (feed = 'vdxp.documents' AND (payload->>'action' = 'sent'"
        "     OR payload->>'delivery_status' IN ('delivered', 'acknowledged')))"
        " OR (feed = 'cyber.incidents' AND payload->>'stage' = 'detected'))",
        MONTH_START, MONTH_END,
    )[0][0]  # fmt: skip
    assert with_data > 3 and report.days_with_data == with_data  # incidents from 20 October
    by_agency = {
        code: (n, online)
        for code, n, online in _archive(
            settings, "portal.dossiers",
            "e.payload->>'agency', count(*), "
            "count(*) FILTER (WHERE e.payload->>'mode' = 'full_online')",
            "AND e.payload->>'status' = 'submitted'", "GROUP BY 1",
        )
    }  # fmt: skip
    assert {a.code: (a.dossiers.submitted, a.dossiers.full_online) for a in report.agencies} == (
        by_agency
    )
    provinces = report.ranked("province")
    assert len(provinces) > 10
    rates = [a.dossiers.rate or 0.0 for a in provinces]
    assert rates == sorted(rates, reverse=True)


def _check_cli(report: MonthlyReport, settings: Settings, tmp_path: Path) -> None:
    env = worker_env(settings) | {"COLUMNS": "200", "TERM": "dumb"}
    base = [sys.executable, "-m", "cli.main", "report", "--namespace", settings.namespace,
            "--month", "2024-10", "--scale", str(SCALE)]  # fmt: skip
    done = subprocess.run(
        [*base, "--format", "json"], env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    document = orjson.loads(done.stdout)
    assert {f["key"]: f["stored"] for f in document["figures"]} == {
        f.key: f.measured for f in report.figures
    }
    page = tmp_path / "october.html"
    done = subprocess.run(
        [*base, "--format", "html", "--out", str(page)],
        env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and f"{report.figure('dossiers_synced').measured:,.0f}" in html
    wrong = subprocess.run(
        [*base[:-4], "--month", "2024-13"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and "YYYY-MM" in wrong.stderr
