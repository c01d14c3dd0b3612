"""National overview: the wall dashboard. One line per platform (dossiers and online rates,
payments, NDXP, documents, open incidents, feed freshness), a map of the provinces and an agency
table whose rows drill down to the Public services and NDXP dashboards."""

from __future__ import annotations

from dashboards import board, cyber, documents, ndxp
from dashboards.model import (
    JSON,
    Layout,
    Query,
    bargauge,
    column_link,
    column_unit,
    geomap,
    stat,
    table,
    timeseries,
)
from dashboards.public_services import (
    FULL_ONLINE_RATE,
    ON_TIME_RATE,
    SUBMITTED,
    online_payments,
    payments_value,
    total,
)
from dashboards.variables import AGENCY_FILTER, BUCKET_SECONDS, RANGE_AND_AGENCY, TIME_GROUP, rows
from dashboards.variables import table as t

WHERE = RANGE_AND_AGENCY
AGENCY_JOIN = "JOIN reference.agencies a ON a.code = d.agency AND a.scheme = '2024'"


def _level_rate(level: str) -> Query:
    return Query(
        f"SELECT {FULL_ONLINE_RATE} AS full_online_rate FROM {rows('dossier_minute', 'd')} "
        f"{AGENCY_JOIN} WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} "
        f"AND a.level = '{level}'",
        "table",
    )


SUBMISSIONS = Query(
    f"SELECT {TIME_GROUP}, a.level AS metric, "
    f"sum(d.events) FILTER (WHERE d.{SUBMITTED}) / ({BUCKET_SECONDS} / 60) AS value "
    f"FROM {rows('dossier_minute', 'd')} {AGENCY_JOIN} "
    f"WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} GROUP BY 1, 2 ORDER BY 1"
)
FRESHNESS = Query(
    "SELECT feed, extract(epoch FROM now() - max(last_event_at)) AS event_age_s "
    f"FROM {t('pipeline_health')} WHERE bucket <= $__timeTo() GROUP BY feed ORDER BY feed",
    "table",
)
# The indicator colouring the map; the query also returns on_time_rate and submitted, so an
# operator can switch the colour field in the panel editor without new SQL.
MAP = Query(
    "SELECT a.code, a.name_en AS name, a.lat, a.lon, "
    f"{FULL_ONLINE_RATE} AS full_online_rate, {ON_TIME_RATE} AS on_time_rate, "
    f"coalesce(sum(d.events) FILTER (WHERE d.{SUBMITTED}), 0) AS submitted "
    f"FROM {rows('dossier_minute', 'd')} {AGENCY_JOIN} "
    f"WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} AND a.level = 'province' "
    "AND a.lat IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1",
    "table",
)
AGENCIES = Query(
    "WITH d AS (SELECT agency, "
    f"sum(events) FILTER (WHERE {SUBMITTED}) AS submitted, "
    f"{FULL_ONLINE_RATE} AS full_online_rate, {ON_TIME_RATE} AS on_time_rate "
    f"FROM {rows('dossier_minute')} WHERE {WHERE} GROUP BY agency), "
    f"n AS (SELECT agency, sum(calls) AS ndxp_calls, "
    "sum(calls) FILTER (WHERE result IN ('error', 'timeout'))::double precision "
    f"/ nullif(sum(calls), 0) AS ndxp_failure_rate FROM {rows('ndxp_minute')} WHERE {WHERE} "
    "GROUP BY agency) "
    "SELECT a.code AS agency, a.name_en AS name, a.level, d.submitted, d.full_online_rate, "
    "d.on_time_rate, n.ndxp_calls, n.ndxp_failure_rate "
    "FROM reference.agencies a LEFT JOIN d ON d.agency = a.code "
    "LEFT JOIN n ON n.agency = a.code "
    f"WHERE a.scheme = '2024' AND a.code IN (${{agency}}) "
    "AND (d.agency IS NOT NULL OR n.agency IS NOT NULL) "
    "ORDER BY d.submitted DESC NULLS LAST, a.code",
    "table",
)

RATE_STEPS = ((None, "red"), (0.2, "orange"), (0.4, "yellow"), (0.6, "green"))


def build() -> JSON:
    layout = Layout()
    layout.row("Public services")
    layout.add(
        stat(
            "Dossiers submitted",
            "Submissions in the time range.",
            total(
                f"coalesce(sum(events) FILTER (WHERE {SUBMITTED}), 0)",
                "dossier_minute",
                "submitted",
            ),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Full-process online: ministries",
            "Report 200/BC-BTTTT: 61.1 %.",
            _level_rate("ministry"),
            unit="percentunit",
            thresholds=RATE_STEPS,
            decimals=1,
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Full-process online: provinces",
            "Report 200/BC-BTTTT: 18.2 %.",
            _level_rate("province"),
            unit="percentunit",
            thresholds=RATE_STEPS,
            decimals=1,
        ),
        5,
        4,
    )
    layout.add(online_payments(), 5, 4)
    layout.add(
        payments_value(),
        5,
        4,
    )
    layout.row("Platforms")
    layout.add(
        stat(
            "NDXP calls/s",
            "Data-sharing calls per second.",
            ndxp.TOTAL_RATE,
            unit="reqps",
            decimals=1,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "NDXP error + timeout rate",
            "Alert rule: above 5 % for 5 minutes.",
            ndxp.TOTAL_FAILURE,
            unit="percentunit",
            thresholds=ndxp.FAILURE_STEPS,
            decimals=2,
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Documents sent",
            "Official documents sent on the Axis.",
            total(
                f"coalesce(sum(documents) FILTER (WHERE {documents.SENT}), 0)",
                "document_minute",
                "sent",
            ),
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Documents received",
            "Deliveries delivered or acknowledged.",
            total(
                f"coalesce(sum(documents) FILTER (WHERE {documents.RECEIVED}), 0)",
                "document_minute",
                "received",
            ),
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Open critical incidents",
            "Any critical incident is an alert.",
            cyber.OPEN_CRITICAL,
            thresholds=((None, "green"), (1.0, "red")),
        ),
        5,
        4,
    )
    layout.add(
        timeseries(
            "Submissions per minute",
            "Dossiers submitted, by agency level.",
            SUBMISSIONS,
            stacked=True,
        ),
        8,
        8,
    )
    layout.add(
        bargauge(
            "Open incidents by severity",
            "Detected and not yet resolved.",
            cyber.OPEN_BY_SEVERITY,
            thresholds=cyber.OPEN_STEPS,
        ),
        8,
        8,
    )
    layout.add(
        bargauge(
            "Data freshness",
            "Seconds since each feed's newest event.",
            FRESHNESS,
            unit="s",
            thresholds=((None, "green"), (60.0, "yellow"), (300.0, "red")),
        ),
        8,
        8,
    )
    layout.row("Agencies")
    layout.add(
        geomap(
            "Full-process online rate by province",
            "Colour: full-process online rate; size: submissions.",
            MAP,
            colour_by="full_online_rate",
            size_by="submitted",
            unit="percentunit",
            thresholds=RATE_STEPS,
        ),
        10,
        14,
    )
    link = board.drill_down(board.PUBLIC_SERVICES, "agency")
    layout.add(table("Agencies", "Click an agency for its public services.", AGENCIES,
                     sort_by="submitted", overrides=[
                         column_link("agency", "Public services of ${__data.fields.agency}", link),
                         column_link("ndxp_calls", "NDXP calls of ${__data.fields.agency}",
                                     board.drill_down(board.NDXP, "agency")),
                         column_unit("full_online_rate", "percentunit", 1),
                         column_unit("on_time_rate", "percentunit", 1),
                         column_unit("ndxp_failure_rate", "percentunit", 2),
                     ]), 14, 14)  # fmt: skip
    return board.dashboard(
        board.OVERVIEW,
        "National overview",
        "Vietnam's national e-government platforms at a glance; click an agency to drill down.",
        layout.panels,
    )
