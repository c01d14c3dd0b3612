"""Cyber security: open incidents by severity and category, detections over time, time to
contain, systems hit by protection level, and the latest incident steps from the raw archive."""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, bargauge, stat, table, timeseries
from dashboards.variables import AGENCY_FILTER, RANGE_AND_AGENCY, TIME_GROUP, rows
from dashboards.variables import table as t

WHERE = RANGE_AND_AGENCY
# Open at the end of the range: every incident detected so far and not yet resolved, so the
# sum runs over all history up to $__timeTo(), not just the range.
OPEN = (
    "coalesce(sum(events) FILTER (WHERE stage = 'detected'), 0) "
    "- coalesce(sum(events) FILTER (WHERE stage = 'resolved'), 0)"
)
UNTIL_END = f"bucket <= $__timeTo() AND {AGENCY_FILTER}"
SEVERITY_ORDER = "array_position(ARRAY['critical', 'high', 'medium', 'low'], severity)"

OPEN_BY_SEVERITY = Query(
    f"SELECT severity, {OPEN} AS open FROM {t('incident_minute')} WHERE {UNTIL_END} "
    f"GROUP BY severity ORDER BY {SEVERITY_ORDER}",
    "table",
)
OPEN_BY_CATEGORY = Query(
    f"SELECT category, {OPEN} AS open FROM {t('incident_minute')} WHERE {UNTIL_END} "
    "GROUP BY category ORDER BY open DESC, category",
    "table",
)
OPEN_CRITICAL = Query(
    f"SELECT {OPEN} AS open_critical FROM {t('incident_minute')} "
    f"WHERE {UNTIL_END} AND severity = 'critical'",
    "table",
)
DETECTED_BY_CATEGORY = Query(
    f"SELECT {TIME_GROUP}, category AS metric, sum(events) AS value "
    f"FROM {rows('incident_minute')} WHERE {WHERE} AND stage = 'detected' GROUP BY 1, 2 ORDER BY 1"
)
DETECTED_BY_SEVERITY = Query(
    f"SELECT {TIME_GROUP}, severity AS metric, sum(events) AS value "
    f"FROM {rows('incident_minute')} WHERE {WHERE} AND stage = 'detected' GROUP BY 1, 2 ORDER BY 1"
)
# seconds_since_detected is summed over the events of a stage: its mean is the time to reach it.
TIME_TO = Query(
    "SELECT stage, sum(seconds_since_detected)::double precision / nullif(sum(events), 0) "
    f"AS mean_seconds FROM {rows('incident_minute')} WHERE {WHERE} AND stage <> 'detected' "
    "GROUP BY stage ORDER BY array_position(ARRAY['triaged', 'contained', 'resolved'], stage)",
    "table",
)
BY_LEVEL = Query(
    "SELECT CASE protection_level WHEN 0 THEN 'not classified' "
    "ELSE 'level ' || protection_level END AS protection_level, sum(events) AS incidents "
    f"FROM {rows('incident_minute')} WHERE {WHERE} AND stage = 'detected' "
    "GROUP BY incident_minute.protection_level ORDER BY incident_minute.protection_level",
    "table",
)
LATEST = Query(
    "SELECT occurred_at AS time, agency, payload->>'incident_id' AS incident, "
    "payload->>'stage' AS stage, payload->>'severity' AS severity, "
    "payload->>'category' AS category, payload->>'target_system' AS target_system, "
    "payload->>'protection_level' AS protection_level "
    f"FROM {t('raw_events')} WHERE feed = 'cyber.incidents' AND $__timeFilter(occurred_at) "
    f"AND {AGENCY_FILTER} ORDER BY occurred_at DESC LIMIT 200",
    "table",
)

OPEN_STEPS = ((None, "green"), (1.0, "orange"), (5.0, "red"))


def build() -> JSON:
    layout = Layout()
    layout.add(
        stat(
            "Open critical incidents",
            "Alert rule: any critical incident, at once.",
            OPEN_CRITICAL,
            thresholds=((None, "green"), (1.0, "red")),
        ),
        6,
        8,
    )
    layout.add(
        bargauge(
            "Open incidents by severity",
            "Detected and not yet resolved.",
            OPEN_BY_SEVERITY,
            thresholds=OPEN_STEPS,
        ),
        9,
        8,
    )
    layout.add(
        bargauge(
            "Open incidents by category",
            "Detected and not yet resolved.",
            OPEN_BY_CATEGORY,
            thresholds=OPEN_STEPS,
        ),
        9,
        8,
    )
    layout.add(
        timeseries(
            "Detected by category",
            "New incidents per interval.",
            DETECTED_BY_CATEGORY,
            stacked=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Detected by severity",
            "New incidents per interval.",
            DETECTED_BY_SEVERITY,
            stacked=True,
        ),
        12,
        8,
    )
    layout.add(
        bargauge(
            "Mean time from detection", "To triage, containment and resolution.", TIME_TO, unit="s"
        ),
        12,
        7,
    )
    layout.add(
        bargauge(
            "Systems hit by protection level",
            "Incidents detected on state information systems, by level (1 to 5).",
            BY_LEVEL,
        ),
        12,
        7,
    )
    layout.add(
        table("Latest incident steps", "From the raw-event archive, newest first.", LATEST), 24, 10
    )
    return board.dashboard(
        board.CYBER,
        "Cyber security",
        "Incidents on state information systems: open, new, time to contain, protection levels.",
        layout.panels,
    )
