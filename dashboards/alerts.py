"""Alerts: what is firing now (age, value, summary, runbook), each alert's state over time, the
history of transitions, active silences and the delivery of every notification.

Reads the namespace's `alert_events`, `alert_notifications` and `silences`. Transition times are
evaluation times: the wall clock live, event time in a replay namespace (pick the replay's range
as on the feed dashboards); notifications and silences are wall-clock objects.
"""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, column_link, column_unit, panel, stat, table
from dashboards.variables import table as t

EVENTS = t("alert_events")
NOTIFICATIONS = t("alert_notifications")
SILENCES = t("silences")

# The newest row of every alert is its current state.
CURRENT = f"(SELECT DISTINCT ON (fingerprint) * FROM {EVENTS} ORDER BY fingerprint, id DESC)"
STATE_CODE = "CASE state WHEN 'firing' THEN 2 WHEN 'pending' THEN 1 ELSE 0 END"

FIRING_COUNT = Query(
    f"SELECT count(*) AS firing FROM {CURRENT} e WHERE e.state = 'firing'", "table"
)
PENDING_COUNT = Query(
    f"SELECT count(*) AS pending FROM {CURRENT} e WHERE e.state = 'pending'", "table"
)
UNDELIVERED = Query(
    f"SELECT count(*) AS undelivered FROM {NOTIFICATIONS} WHERE status <> 'delivered'", "table"
)
SILENCE_COUNT = Query(f"SELECT count(*) AS silences FROM {SILENCES} WHERE ends_at > now()", "table")
FIRING = Query(
    "SELECT e.rule, e.fingerprint AS alert, e.severity, e.fired_at AS since, "
    "extract(epoch FROM now() - e.fired_at) AS age_s, e.value, e.summary, e.silenced, "
    f"e.runbook_url AS runbook FROM {CURRENT} e WHERE e.state = 'firing' "
    "ORDER BY e.fired_at DESC",
    "table",
)
# Each alert's state at the start of the range (its newest row before it), then every change.
STATES = Query(
    "SELECT time, metric, value FROM ("
    f"SELECT $__timeFrom() AS time, fingerprint AS metric, {STATE_CODE} AS value FROM "
    f"(SELECT DISTINCT ON (fingerprint) fingerprint, state FROM {EVENTS} "
    "WHERE at < $__timeFrom() ORDER BY fingerprint, id DESC) before "
    f"UNION ALL SELECT at, fingerprint, {STATE_CODE} FROM {EVENTS} WHERE $__timeFilter(at)"
    ") states ORDER BY 1"
)
DELIVERY = (
    f"(SELECT event_id, count(*) AS receivers, count(*) FILTER (WHERE status = 'delivered') "
    f"AS delivered FROM {NOTIFICATIONS} GROUP BY event_id)"
)
TRANSITIONS = Query(
    "SELECT e.at, e.rule, e.state, e.fingerprint AS alert, e.value, e.summary, e.silenced, "
    "CASE WHEN e.notify THEN coalesce(d.delivered, 0) || '/' || coalesce(d.receivers, 0) "
    f"ELSE '-' END AS delivered FROM {EVENTS} e LEFT JOIN {DELIVERY} d ON d.event_id = e.id "
    "WHERE $__timeFilter(e.at) ORDER BY e.at DESC, e.id DESC LIMIT 500",
    "table",
)
ACTIVE_SILENCES = Query(
    "SELECT id, matchers::text AS matchers, starts_at, ends_at, created_by, comment "
    f"FROM {SILENCES} WHERE ends_at > now() ORDER BY ends_at",
    "table",
)
# Created in the range, or still owed whenever created.
NOTIFICATION_ROWS = Query(
    "SELECT created_at, fingerprint AS alert, state, receiver, status, attempts, "
    f"next_attempt_at, delivered_at, last_error FROM {NOTIFICATIONS} "
    "WHERE $__timeFilter(created_at) OR status = 'pending' ORDER BY id DESC LIMIT 500",
    "table",
)

_STATE_MAPPINGS: list[JSON] = [
    {
        "options": {
            "0": {"color": "green", "index": 0, "text": "ok"},
            "1": {"color": "yellow", "index": 1, "text": "pending"},
            "2": {"color": "red", "index": 2, "text": "firing"},
        },
        "type": "value",
    }
]


def _state_timeline() -> JSON:
    built = panel(
        "state-timeline", "Alert states",
        "Each alert (rule and labels) over time: ok, pending, firing.", (STATES,),
        options={
            "alignValue": "left", "legend": {"displayMode": "list", "placement": "bottom"},
            "mergeValues": True, "rowHeight": 0.8, "showValue": "never",
        },
        thresholds=((None, "green"), (1, "yellow"), (2, "red")),
    )  # fmt: skip
    built["fieldConfig"]["defaults"]["mappings"] = _STATE_MAPPINGS
    built["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
    return built


def build() -> JSON:
    layout = Layout()
    layout.add(stat("Firing now", "Alerts firing.", FIRING_COUNT,
                    thresholds=((None, "green"), (1, "red"))), 6, 4)  # fmt: skip
    layout.add(stat("Pending", "Breaching, waiting for the rule's `for`.", PENDING_COUNT,
                    thresholds=((None, "green"), (1, "yellow"))), 6, 4)  # fmt: skip
    layout.add(stat("Notifications not delivered",
                    "Owed to a receiver (retrying) or expired undelivered.", UNDELIVERED,
                    thresholds=((None, "green"), (1, "orange"))), 6, 4)  # fmt: skip
    layout.add(stat("Active silences", "Silences not yet ended.", SILENCE_COUNT), 6, 4)
    layout.add(table("Firing now", "What fires, since when, its value, summary and runbook.",
                     FIRING, overrides=[
                         column_unit("age_s", "s", 0),
                         column_unit("since", "dateTimeAsIso"),
                         column_link("runbook", "Runbook", "${__value.raw}"),
                     ]), 24, 7)  # fmt: skip
    layout.add(_state_timeline(), 24, 9)
    layout.add(table("Transitions", "Every change of state, newest first, with how many "
                     "receivers acknowledged its notification.", TRANSITIONS,
                     overrides=[column_unit("at", "dateTimeAsIso")]), 24, 8)  # fmt: skip
    layout.add(table("Active silences", "Notifications of matching alerts are held back.",
                     ACTIVE_SILENCES, overrides=[
                         column_unit("starts_at", "dateTimeAsIso"),
                         column_unit("ends_at", "dateTimeAsIso"),
                     ]), 10, 7)  # fmt: skip
    layout.add(table("Notification delivery", "Each notification to each receiver: delivered "
                     "on a 2xx answer, retried with backoff, or expired.", NOTIFICATION_ROWS,
                     overrides=[
                         column_unit("created_at", "dateTimeAsIso"),
                         column_unit("next_attempt_at", "dateTimeAsIso"),
                         column_unit("delivered_at", "dateTimeAsIso"),
                     ]), 14, 7)  # fmt: skip
    return board.dashboard(
        board.ALERTS,
        "Alerts",
        "What fires now, each alert's history, silences and the delivery of notifications.",
        layout.panels,
    )
