"""An operator's drill under `govpulse up`: an incident storm is injected into the running
feeds, the alert fires and resolves, the webhook receives both, and the alerts dashboard's
queries (as govpulse_reader, as Grafana sends them) return them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from dashboards.catalogue import build_all
from govpulse.settings import Settings
from tests.e2e.test_up import up_settings  # noqa: F401  (fixture)
from tests.grafana_sql import expand_macros, interpolate
from tests.integration.test_dashboard_queries import reader_session
from tests.pipeline_helpers import query, wait_for, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# The packaged rule, with a one-minute window so the drill resolves within minutes.
RULE = {
    "name": "critical_incident",
    "measure": "incidents_detected",
    "params": {"window_minutes": 1, "severities": ["critical"]},
    "group_by": ["agency", "category"],
    "threshold": 0,
    "severity": "critical",
    "summary": "Critical {category} incident detected at {agency}",
    "runbook_url": "https://runbooks.govpulse.example/critical-incident",
}


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        type(self).received.append((self.headers.get("Idempotency-Key", ""), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_drill_fires_and_resolves_an_alert_end_to_end(
    up_settings: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = up_settings
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [RULE]}), encoding="utf-8")
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = worker_env(
        settings,
        GOVPULSE_ALERTS__RULES_FILE=str(rules),
        GOVPULSE_ALERTS__CLOCK="wall",  # live feeds in a test namespace
        GOVPULSE_ALERTS__INTERVAL_S="2",
        GOVPULSE_ALERTS__WEBHOOK_URLS=json.dumps([f"http://127.0.0.1:{server.server_port}/hook"]),
        GOVPULSE_STREAMS__ARCHIVE_RAW="false",
    )
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--duration", "420", "--scale", "0.1"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def running() -> bool:
            try:
                return bool(query(settings, "SELECT count(*) FROM pipeline_health")[0][0])
            except Exception:
                return False

        wait_for(running, 120, "the pipeline under govpulse up", log)
        started = datetime.now(UTC)
        drill = subprocess.run(
            [sys.executable, "-m", "cli.main", "connectors", "drill", "incident_storm",
             "--duration", "1m", "--namespace", settings.namespace],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert drill.returncode == 0, drill.stderr
        assert "incident_storm until" in drill.stdout

        def states() -> dict[str, set[str]]:
            found: dict[str, set[str]] = {}
            for fingerprint, state in query(
                settings, "SELECT fingerprint, state FROM alert_events ORDER BY id"
            ):
                found.setdefault(fingerprint, set()).add(state)
            return found

        wait_for(lambda: bool(states()), 150, "the drill's alert firing", log)
        wait_for(
            lambda: all({"firing", "resolved"} <= s for s in states().values()),
            240, "every drilled alert resolved", log,
        )  # fmt: skip
        alerts = states()
        wait_for(lambda: len(Hook.received) >= 2 * len(alerts), 60, "the webhooks", log)
        time.sleep(3)  # a repeat would show now
        bodies = [body for _, body in Hook.received]
        assert sorted((b["fingerprint"], b["status"]) for b in bodies) == sorted(
            (fingerprint, status) for fingerprint in alerts for status in ("firing", "resolved")
        )
        assert len({key for key, _ in Hook.received}) == len(Hook.received)
        assert all(b["labels"]["alertname"] == "critical_incident" for b in bodies)
        # The storm's incidents are the drill's, at the time of the drill.
        drilled = query(
            settings, "SELECT count(*) FROM incident_minute WHERE severity = 'critical' "
            "AND bucket >= date_trunc('minute', %s::timestamptz)", started,
        )[0][0]  # fmt: skip
        assert drilled >= 1

        # What the alerts dashboard shows, queried as Grafana would, as the reader role.
        dashboard = build_all()["alerts.json"]
        panels = {p["title"]: p for p in dashboard["panels"] if p["type"] != "stat"}
        start, end = started - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=1)
        with reader_session(settings) as conn:

            def run(sql: str) -> list[tuple[Any, ...]]:
                text = interpolate(sql, {"namespace": settings.namespace}, multi=set())
                text = expand_macros(text, start, end, timedelta(minutes=1), timescaledb=False)
                return conn.execute(text.encode()).fetchall()

            transitions = run(panels["Transitions"]["targets"][0]["rawSql"])
            assert {(r[3], r[2]) for r in transitions} == {
                (f, s) for f in alerts for s in ("firing", "resolved")
            }
            assert all(r[7] == "1/1" for r in transitions if r[2] in ("firing", "resolved"))
            timeline = run(panels["Alert states"]["targets"][0]["rawSql"])
            assert {(r[1], r[2]) for r in timeline} >= {(f, 2) for f in alerts} | {
                (f, 0) for f in alerts
            }
            delivery = run(panels["Notification delivery"]["targets"][0]["rawSql"])
            assert sorted((r[1], r[2], r[4]) for r in delivery) == sorted(
                (f, s, "delivered") for f in alerts for s in ("firing", "resolved")
            )
            assert run(panels["Firing now"]["targets"][0]["rawSql"]) == []
            [annotation] = [
                a["target"]["rawSql"] for a in dashboard["annotations"]["list"] if "target" in a
            ]
            assert len(run(annotation)) == 2 * len(alerts)
    finally:
        if up.poll() is None:
            os.kill(up.pid, signal.SIGTERM)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
        server.shutdown()
