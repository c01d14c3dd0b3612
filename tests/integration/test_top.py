"""`govpulse top` over data that went through the real pipeline: feeds → broker → worker → SQL.

The headline figures are checked against the produced events themselves (the truth, computed
without any code of `streams` or `govpulse.indicators`), the histogram quantile and the pipeline
health against SQL written here, and `govpulse top --once` must print those same figures.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig
from govpulse.db.connection import connect
from govpulse.indicators import Snapshot, read_snapshot
from govpulse.settings import Settings
from govpulse.topics import FEEDS
from tests.pipeline_helpers import produce, query, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

START = local_day(2024, 10, 1).replace(hour=8)
AS_OF = START + timedelta(hours=1)  # the produced hour is exactly "the last hour"
INCIDENTS_FROM = local_day(2024, 9, 28)  # incidents are rare: a few days of them


def _unique(values: list[bytes]) -> list[dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    for value in values:
        event = orjson.loads(value)
        events.setdefault(event["event_id"], event)
    return list(events.values())


def _when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _produced(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    busy = SimulationConfig(
        seed=17, scale=0.05, feeds=tuple(n for n in FEEDS if n != "cyber.incidents")
    )
    sink, _ = produce(settings.kafka, settings.namespace, busy, START, AS_OF)
    rare = SimulationConfig(seed=17, scale=1.0, feeds=("cyber.incidents",))
    incidents, _ = produce(settings.kafka, settings.namespace, rare, INCIDENTS_FROM, AS_OF)
    by_feed: dict[str, list[bytes]] = {name: [] for name in FEEDS}
    for out in sink.sent + incidents.sent:
        by_feed[out.feed].append(out.value)
    return {name: _unique(values) for name, values in by_feed.items()}


def _ministry_codes(settings: Settings) -> set[str]:
    rows = query(
        settings,
        "SELECT code FROM reference.agencies WHERE scheme = '2024' AND level = 'ministry'",
    )
    return {code for (code,) in rows}


def test_top_shows_the_pipelines_figures(stream_settings: Settings, tmp_path: Path) -> None:
    events = _produced(stream_settings)
    total = sum(len(v) for v in events.values())
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(stream_settings), log)
    try:

        def archived() -> bool:
            count = query(stream_settings, "SELECT count(*) FROM raw_events")[0][0]
            archived.__doc__ = f"{count} of {total} events archived"
            return bool(count == total)

        wait_for(archived, 180, "every event in the database", log)
        # The archive and the aggregates are written by separate agents: wait for both.
        ndxp_total = len(events["ndxp.transactions"])
        wait_for(
            lambda: query(stream_settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0]
            == ndxp_total,
            60, "NDXP aggregates", log,
        )  # fmt: skip
        wait_for(
            lambda: query(stream_settings, "SELECT coalesce(sum(events), 0) FROM dossier_minute")[
                0
            ][0]
            == len(events["portal.dossiers"]),
            60, "dossier aggregates", log,
        )  # fmt: skip
    finally:
        stop_worker(worker)

    now = query(stream_settings, "SELECT now()")[0][0]
    with connect(stream_settings.db, autocommit=True) as conn:
        snapshot = read_snapshot(conn, stream_settings.namespace, as_of=AS_OF, now=now)
    _check_headline(snapshot, events, _ministry_codes(stream_settings))
    _check_p95_incidents_and_health(snapshot, stream_settings, events, now)
    _check_cli_prints_them(snapshot, stream_settings)


def _check_headline(
    snapshot: Snapshot, events: dict[str, list[dict[str, Any]]], ministries: set[str]
) -> None:
    h = snapshot.headline
    submitted = [d for d in events["portal.dossiers"] if d["status"] == "submitted"]
    assert submitted and all(START <= _when(d) < AS_OF for d in submitted)
    full = [d for d in submitted if d["mode"] == "full_online"]
    assert (h.dossiers_last_hour.submitted, h.dossiers_last_hour.full_online) == (
        len(submitted), len(full),
    )  # fmt: skip
    at_ministries = [d for d in submitted if d["agency"] in ministries]
    assert h.dossiers_ministries.submitted == len(at_ministries)
    assert h.dossiers_ministries.full_online == sum(
        d["mode"] == "full_online" for d in at_ministries
    )
    assert h.dossiers_provinces.submitted + h.dossiers_ministries.submitted <= len(submitted)
    paid = [p for p in events["portal.payments"] if p["status"] == "success"]
    assert (h.payments_today, h.payments_today_vnd) == (
        len(paid), sum(p["amount_vnd"] for p in paid),
    )  # fmt: skip
    window = [e for e in events["ndxp.transactions"] if AS_OF - timedelta(minutes=5) <= _when(e)]
    assert window
    assert h.ndxp_calls_per_s == pytest.approx(len(window) / 300)
    failures = sum(e["result"] in ("error", "timeout") for e in window)
    assert h.ndxp_failure_rate == pytest.approx(failures / len(window))
    documents = events["vdxp.documents"]
    assert h.documents_sent == sum(d["action"] == "sent" for d in documents)
    assert h.documents_received == sum(
        d["delivery_status"] in ("delivered", "acknowledged") for d in documents
    )
    assert h.deliveries_failed == sum(d["delivery_status"] == "failed" for d in documents)


def _check_p95_incidents_and_health(
    snapshot: Snapshot, settings: Settings, events: dict[str, list[dict[str, Any]]], now: datetime
) -> None:
    (p95,) = query(
        settings,
        "SELECT reference.histogram_quantile(reference.hist_merge(latency_hist), 0.95) "
        "FROM ndxp_minute WHERE bucket >= %s AND bucket < %s",
        AS_OF - timedelta(minutes=5), AS_OF,
    )[0]  # fmt: skip
    assert snapshot.headline.ndxp_p95_ms == pytest.approx(p95)
    incidents = events["cyber.incidents"]
    assert incidents, "no incident produced: the window proves nothing"
    for severity, open_ in snapshot.open_incidents.items():
        steps = [e["stage"] for e in incidents if e["severity"] == severity]
        assert open_ == max(0, steps.count("detected") - steps.count("resolved")), severity
    rows = query(
        settings,
        "SELECT feed, sum(invalid), sum(late), sum(duplicates), %s - max(last_event_at) "
        "FROM pipeline_health GROUP BY feed",
        now,
    )
    expected = {
        feed: (int(i), int(la), int(d), age.total_seconds()) for feed, i, la, d, age in rows
    }
    for feed in snapshot.health:
        if feed.feed not in expected:
            assert (feed.invalid, feed.late, feed.duplicates, feed.freshness_s) == (0, 0, 0, None)
            continue
        invalid, late, duplicates, age = expected[feed.feed]
        assert (feed.invalid, feed.late, feed.duplicates) == (invalid, late, duplicates)
        assert feed.freshness_s == pytest.approx(age)
        newest = max(_when(e) for e in events[feed.feed])
        assert feed.freshness_s == pytest.approx((now - newest).total_seconds())
    assert {f.feed for f in snapshot.health} == set(FEEDS)


def _check_cli_prints_them(snapshot: Snapshot, settings: Settings) -> None:
    env = worker_env(settings) | {"COLUMNS": "200", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "top", "--once",
         "--namespace", settings.namespace, "--at", AS_OF.isoformat()],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    h = snapshot.headline
    rate = h.dossiers_last_hour
    for figure in (
        f"{rate.submitted:,}",
        f"{rate.full_online / rate.submitted:.1%}",
        f"{h.payments_today:,}",
        f"{h.payments_today_vnd:,} VND",
        f"{h.ndxp_calls_per_s:,.2f}",
        f"{h.documents_sent:,} / {h.documents_received:,}",
        f"failed deliveries {h.deliveries_failed:,}",
        *FEEDS,
    ):
        assert figure in out, f"{figure!r} not in:\n{out}"
    if h.ndxp_p95_ms is not None:
        assert f"{h.ndxp_p95_ms:,.0f} ms" in out


def test_top_says_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    env = {"GOVPULSE_DB__HOST": "127.0.0.1", "GOVPULSE_DB__PORT": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "top", "--once"],
        env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach PostgreSQL at"), lines
    assert "Traceback" not in done.stderr
