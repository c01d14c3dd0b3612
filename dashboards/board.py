"""The dashboard envelope (title, uid, time, refresh, variables, links) and drill-down URLs.

Uids are fixed here, never derived from titles, so renaming a dashboard keeps its URL, its
links from other dashboards and Grafana's version history (`push` overwrites by uid).
"""

from __future__ import annotations

from dashboards.model import DATASOURCE, JSON, SCHEMA_VERSION, TAGS
from dashboards.variables import templating

# Alert transitions on every dashboard, so a spike and the alert it raised line up.
ALERT_ANNOTATIONS_SQL = (
    "SELECT at AS time, upper(state) || ': ' || summary AS text, "
    "rule || ',' || severity || ',' || state AS tags FROM ${namespace}.alert_events "
    "WHERE $__timeFilter(at) AND state IN ('firing', 'resolved') ORDER BY at"
)


def alert_annotations() -> JSON:
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "datasource": DATASOURCE,
                "enable": True,
                "hide": False,
                "iconColor": "red",
                "name": "govpulse alerts",
                "target": {
                    "editorMode": "code",
                    "format": "table",
                    "rawQuery": True,
                    "rawSql": ALERT_ANNOTATIONS_SQL,
                    "refId": "Anno",
                },
            },
        ]
    }


OVERVIEW = "govpulse-overview"
PUBLIC_SERVICES = "govpulse-public-services"
NDXP = "govpulse-ndxp"
DOCUMENTS = "govpulse-documents"
CYBER = "govpulse-cyber"
PIPELINE = "govpulse-pipeline"
ALERTS = "govpulse-alerts"

SLUGS = {
    OVERVIEW: "national-overview",
    PUBLIC_SERVICES: "public-services",
    NDXP: "ndxp",
    DOCUMENTS: "document-axis",
    CYBER: "cyber-security",
    PIPELINE: "pipeline-health",
    ALERTS: "alerts",
}


def drill_down(uid: str, agency_field: str) -> str:
    """URL of dashboard `uid` for the agency in a clicked row, keeping namespace and time."""
    return (
        f"/d/{uid}/{SLUGS[uid]}?var-agency=${{__data.fields.{agency_field}}}"
        "&${namespace:queryparam}&${interval:queryparam}&${__url_time_range}"
    )


def dashboard(uid: str, title: str, description: str, panels: list[JSON]) -> JSON:
    """A complete dashboard: the shared variables, links to the others, 10 s refresh."""
    if uid not in SLUGS:
        raise ValueError(f"unknown dashboard uid {uid!r}; known: {', '.join(sorted(SLUGS))}")
    return {
        "annotations": alert_annotations(),
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,  # shared crosshair: a spike lines up across panels
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,  # namespace and agency follow the operator
                "keepTime": True,
                "tags": list(TAGS),
                "targetBlank": False,
                "title": "govpulse",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(TAGS),
        "templating": templating(),
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m", "15m", "1h"]},
        # Operators work in Vietnam (UTC+7, no daylight saving); data are stored in UTC.
        "timezone": "Asia/Ho_Chi_Minh",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "monday",
    }
