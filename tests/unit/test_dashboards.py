"""Dashboards as code: committed JSON equals the generated, the layout and variables are sound,
the provisioning files match, and `push` speaks Grafana's HTTP API (against a local fake)."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from dashboards import board
from dashboards.catalogue import GENERATED_DIR, build_all, drift, render, write_all
from dashboards.model import DATASOURCE, GRID_COLUMNS
from dashboards.variables import NARROW_ROLLUPS, TIME_GROUP, rows
from tests.grafana_sql import expand_macros, interpolate

PROVISIONING = GENERATED_DIR.parent / "provisioning"
DASHBOARDS = build_all()
PANELS = [(name, p) for name, d in DASHBOARDS.items() for p in d["panels"]]
QUERY_PANELS = [(name, p) for name, p in PANELS if p["type"] != "row"]

# Grafana's global variables and the PostgreSQL datasource's macros.
BUILTINS = {
    "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__rate_interval",
    "__from", "__to", "__now", "__dashboard", "__org", "__user", "__timezone", "__name",
    "__field", "__series", "__value", "__data", "__url_time_range", "__all_variables", "__all",
    "__auto_interval_interval", "__timeFilter", "__timeFrom", "__timeTo", "__timeGroup",
    "__timeGroupAlias", "__time", "__timeEpoch", "__unixEpochFilter", "__unixEpochFrom",
    "__unixEpochTo", "__unixEpochGroup", "__unixEpochGroupAlias",
}  # fmt: skip
VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:^\}]+)?(?::[^\}]+)?\}")


def test_committed_json_equals_the_generated() -> None:
    found = drift()
    assert not found, "run `govpulse dashboards build`: " + ", ".join(
        f"{d.name} ({d.reason})" for d in found
    )


def test_rendering_is_stable() -> None:
    again = build_all()
    assert {n: render(d) for n, d in again.items()} == {n: render(d) for n, d in DASHBOARDS.items()}


def test_uids_are_unique_and_fixed() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids) == 7
    assert set(uids) == set(board.SLUGS)
    assert all(d["id"] is None for d in DASHBOARDS.values())


def test_panels_read_the_resolution_of_their_range() -> None:
    # Every minute table is read through rows(): with its hourly and daily rollups, chosen by the
    # range (the headline, a narrower or the full rollups). The exception: open incidents,
    # a balance over all history up to the range's end.
    minute = re.compile(r"\$\{namespace\}\.(\w+_minute)\b(?!_)")
    direct = []
    for name, panel in QUERY_PANELS:
        for target in panel["targets"]:
            sql = target["rawSql"]
            for table_name in set(minute.findall(sql)):
                families = [None, table_name, *(n for n, (t, _) in NARROW_ROLLUPS.items()
                                                if t == table_name)]  # fmt: skip
                read = (rows(table_name, family=family) for family in families)
                if not any(r.rpartition(" AS ")[0] in sql for r in read):  # whatever its alias
                    direct.append(f"{name} / {panel['title']}: {table_name}")
    assert sorted(direct) == [
        "cyber.json / Open critical incidents: incident_minute",
        "cyber.json / Open incidents by category: incident_minute",
        "cyber.json / Open incidents by severity: incident_minute",
        "overview.json / Open critical incidents: incident_minute",
        "overview.json / Open incidents by severity: incident_minute",
    ]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_unique_and_grid_without_overlap(name: str) -> None:
    panels = DASHBOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    boxes = []
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0, p["title"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS, p["title"]
        boxes.append((p["title"], pos))
    for (a_title, a), (b_title, b) in itertools.combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, f"{name}: {a_title!r} overlaps {b_title!r}"


@pytest.mark.parametrize(
    ("name", "panel"), QUERY_PANELS, ids=[f"{n}:{p['id']}" for n, p in QUERY_PANELS]
)
def test_every_panel_has_a_datasource_and_a_query(name: str, panel: dict[str, Any]) -> None:
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"], panel["title"]
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert target["rawSql"].strip().upper().startswith(("SELECT", "WITH"))
        assert "${namespace}." in target["rawSql"] or "reference." in target["rawSql"]
        if target["format"] == "time_series":
            # Grafana turns long results into series only when sorted by time.
            assert target["rawSql"].rstrip().endswith("ORDER BY 1"), panel["title"]
            if panel["type"] != "state-timeline":  # states change at transitions, not buckets
                assert TIME_GROUP in target["rawSql"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_variable_used_is_defined_or_builtin(name: str) -> None:
    dashboard = DASHBOARDS[name]
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert defined == {"namespace", "agency", "interval"}
    used = {next(g for g in m.groups() if g) for m in VARIABLE.finditer(json.dumps(dashboard))}
    unknown = used - defined - BUILTINS
    assert not unknown, f"{name} uses undefined variables {sorted(unknown)}"


def test_variables_namespace_agency_interval() -> None:
    variables = {v["name"]: v for v in DASHBOARDS["overview.json"]["templating"]["list"]}
    assert variables["namespace"]["current"]["value"] == "live"
    assert "schema_migrations" in variables["namespace"]["query"]
    assert variables["agency"]["multi"] and variables["agency"]["includeAll"]
    assert "reference.agencies" in variables["agency"]["query"]
    assert variables["interval"]["type"] == "interval"
    assert variables["interval"]["auto_min"] == "1m"


def test_overview_drills_down_to_an_agency_and_has_a_geomap() -> None:
    overview = DASHBOARDS["overview.json"]
    urls = [
        link["url"]
        for p in overview["panels"]
        for o in p.get("fieldConfig", {}).get("overrides", [])
        for prop in o["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert any(
        u.startswith(f"/d/{board.PUBLIC_SERVICES}/") and "var-agency=${__data.fields.agency}" in u
        for u in urls
    )
    geomaps = [p for p in overview["panels"] if p["type"] == "geomap"]
    assert len(geomaps) == 1
    layer = geomaps[0]["options"]["layers"][0]
    assert layer["location"] == {"latitude": "lat", "longitude": "lon", "mode": "coords"}


def test_diff_reports_the_dashboard_that_drifted(tmp_path: Path) -> None:
    write_all(tmp_path)
    target = tmp_path / "ndxp.json"
    target.write_text(target.read_text().replace("Calls/s", "Calls per second"))
    (tmp_path / "old.json").write_text("{}\n")
    result = CliRunner().invoke(app, ["dashboards", "diff", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "changed  ndxp.json" in result.output and "stale    old.json" in result.output
    assert re.search(r'^\+ +"title": "Calls/s",$', result.output, re.MULTILINE)
    write_all(tmp_path)
    assert not (tmp_path / "old.json").exists()
    ok = CliRunner().invoke(app, ["dashboards", "diff", "--dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output


def test_provisioning_matches_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources/govpulse.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == DATASOURCE["type"] == "grafana-postgresql-datasource"
    assert source["uid"] == DATASOURCE["uid"]
    assert source["jsonData"]["timescaledb"] is True
    assert isinstance(source["jsonData"]["postgresVersion"], int)
    assert source["jsonData"]["sslmode"].startswith("$")
    # Credentials come from Grafana's environment, never from the repository.
    assert source["user"] == "$GOVPULSE_GRAFANA_DB_USER"
    assert source["secureJsonData"]["password"] == "$GOVPULSE_GRAFANA_DB_PASSWORD"
    providers = yaml.safe_load((PROVISIONING / "dashboards/govpulse.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["folder"] == "govpulse"
    assert provider["options"]["path"]


# --- the macro expansion the integration test relies on, checked against Grafana's own cases --

START = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
END = START + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("sql", "timescaledb", "expected"),
    [
        ("$__timeFilter(time_column)", False,
         "time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
        ("$__timeGroup(time_column,'5m')", False, "floor(extract(epoch from time_column)/300)*300"),
        ("$__timeGroupAlias(time_column, 5m)", False,
         'floor(extract(epoch from time_column)/300)*300 AS "time"'),
        ("$__timeGroup(time_column, 5m)", True, "time_bucket('300.000s',time_column)"),
        ("$__timeFrom() $__timeTo()", False, "'2018-04-12T18:00:00Z' '2018-04-12T18:05:00Z'"),
        ("$__unixEpochFilter(t)", False, "t >= 1523556000 AND t <= 1523556300"),
        ("x $__interval $__interval_ms", False, "x 1m 60000"),
    ],
)  # fmt: skip
def test_macro_expansion_follows_grafana(sql: str, timescaledb: bool, expected: str) -> None:
    assert expand_macros(sql, START, END, timedelta(minutes=1), timescaledb=timescaledb) == expected


def test_variables_are_formatted_as_grafana_does_for_sql() -> None:
    sql = "FROM ${namespace}.t WHERE agency IN (${agency}) AND x = '$interval'"
    out = interpolate(sql, {"namespace": "live", "agency": ["01", "O'K"], "interval": "5m"},
                      multi={"agency"})  # fmt: skip
    assert out == "FROM live.t WHERE agency IN ('01','O''K') AND x = '5m'"


# --- push, against a fake Grafana ----------------------------------------------------------------


class FakeGrafana(BaseHTTPRequestHandler):
    """Records every request; answers as Grafana's folder and dashboard APIs document."""

    requests: list[dict[str, Any]]
    folders: list[dict[str, Any]]
    expected_auth: str

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.requests.append({
            "method": self.command, "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "body": json.loads(raw) if raw else None,
        })  # fmt: skip
        if self.headers.get("Authorization") != self.expected_auth:
            self._answer(401, {"message": "Unauthorized"})
        elif self.command == "GET" and self.path == "/api/folders":
            self._answer(200, self.folders)
        elif self.command == "POST" and self.path == "/api/folders":
            body = self.requests[-1]["body"]
            folder = {"id": len(self.folders) + 1, "uid": body["uid"], "title": body["title"]}
            self.folders.append(folder)
            self._answer(200, folder)
        elif self.command == "POST" and self.path == "/api/dashboards/db":
            uid = self.requests[-1]["body"]["dashboard"]["uid"]
            self._answer(200, {"id": 1, "uid": uid, "status": "success", "version": 2,
                               "url": f"/d/{uid}/x"})  # fmt: skip
        else:
            self._answer(404, {"message": "Not found"})

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def fake_grafana() -> Iterator[tuple[str, type[FakeGrafana]]]:
    handler = type("Handler", (FakeGrafana,), {"requests": [], "folders": [], "expected_auth": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _push(env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, ["dashboards", "push"], env=env)


def test_push_creates_the_folder_once_and_overwrites_by_uid(
    fake_grafana: tuple[str, type[FakeGrafana]],
) -> None:
    url, handler = fake_grafana
    handler.expected_auth = "Bearer glsa_test_token"
    env = {"GOVPULSE_GRAFANA__URL": url, "GOVPULSE_GRAFANA__TOKEN": "glsa_test_token",
           "GOVPULSE_GRAFANA__FOLDER": "govpulse"}  # fmt: skip
    first = _push(env)
    assert first.exit_code == 0, first.output
    second = _push(env)
    assert second.exit_code == 0, second.output
    assert "glsa_test_token" not in first.output + second.output

    dashboards = build_all()
    saves = [
        {"dashboard": dashboards[name] | {"id": None}, "folderUid": "govpulse", "overwrite": True}
        for name in sorted(dashboards)
    ]
    calls = [(r["method"], r["path"], r["body"]) for r in handler.requests]
    assert calls == [
        ("GET", "/api/folders", None),
        ("POST", "/api/folders", {"title": "govpulse", "uid": "govpulse"}),
        *(("POST", "/api/dashboards/db", body) for body in saves),
        ("GET", "/api/folders", None),  # second push: the folder exists, nothing is duplicated
        *(("POST", "/api/dashboards/db", body) for body in saves),
    ]
    assert {r["authorization"] for r in handler.requests} == {"Bearer glsa_test_token"}
    posts = [r for r in handler.requests if r["method"] == "POST"]
    assert all(r["content_type"].startswith("application/json") for r in posts)
    assert {b["dashboard"]["uid"] for _, p, b in calls if p == "/api/dashboards/db"} == set(
        board.SLUGS
    )


def test_push_with_basic_auth(fake_grafana: tuple[str, type[FakeGrafana]]) -> None:
    url, handler = fake_grafana
    handler.expected_auth = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    handler.folders.append({"id": 7, "uid": "existing-uid", "title": "govpulse"})
    env = {"GOVPULSE_GRAFANA__URL": url, "GOVPULSE_GRAFANA__USER": "admin",
           "GOVPULSE_GRAFANA__PASSWORD": "s3cret", "GOVPULSE_GRAFANA__TOKEN": ""}  # fmt: skip
    result = _push(env)
    assert result.exit_code == 0, result.output
    assert [r["method"] for r in handler.requests].count("POST") == len(board.SLUGS)
    assert {r["body"]["folderUid"] for r in handler.requests if r["body"]} == {"existing-uid"}


def test_push_refused_credentials_is_one_line(
    fake_grafana: tuple[str, type[FakeGrafana]],
) -> None:
    url, handler = fake_grafana
    handler.expected_auth = "Bearer right"
    result = _push({"GOVPULSE_GRAFANA__URL": url, "GOVPULSE_GRAFANA__TOKEN": "wrong"})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "refused the credentials" in lines[0] and "wrong" not in lines[0]


def test_push_to_unreachable_grafana_is_one_line() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana) as closed:
        port = closed.server_address[1]  # bound then closed: nothing listens there
    result = _push({"GOVPULSE_GRAFANA__URL": f"http://127.0.0.1:{port}",
                    "GOVPULSE_GRAFANA__TOKEN": "t"})  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0] == f"error: cannot reach Grafana at http://127.0.0.1:{port}: " + (
        "[Errno 111] Connection refused"
    )


def test_every_dashboard_shows_alert_transitions_as_annotations() -> None:
    for name, dashboard in DASHBOARDS.items():
        [alerts] = [a for a in dashboard["annotations"]["list"] if a["name"] == "govpulse alerts"]
        assert alerts["datasource"] == DATASOURCE and alerts["enable"], name
        sql = alerts["target"]["rawSql"]
        assert "${namespace}.alert_events" in sql and "$__timeFilter(at)" in sql
        assert sql.startswith("SELECT at AS time,") and " AS text," in sql and " AS tags " in sql


def test_the_alerts_dashboard_has_what_an_operator_needs() -> None:
    alerts = DASHBOARDS["alerts.json"]
    titles = {p["title"]: p for p in alerts["panels"]}
    assert {
        "Firing now", "Alert states", "Transitions", "Active silences", "Notification delivery",
        "Notifications not delivered",
    } <= set(titles)  # fmt: skip
    firing = [p for p in alerts["panels"] if p["title"] == "Firing now" and p["type"] == "table"]
    sql = firing[0]["targets"][0]["rawSql"]
    for column in ("AS age_s", "e.value", "e.summary", "AS runbook"):
        assert column in sql
    assert titles["Alert states"]["type"] == "state-timeline"
