"""Public services: dossiers by channel, full-process online and on-time rates, overdue
completions and online payments, for the agencies selected (the overview drills down here)."""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, column_unit, stat, table, timeseries
from dashboards.variables import AGENCY_FILTER, BUCKET_SECONDS, RANGE_AND_AGENCY, TIME_GROUP, rows

WHERE = RANGE_AND_AGENCY
SUBMITTED = "status = 'submitted'"
# Full-process online ("toàn trình") share of submissions, as report 200/BC-BTTTT counts it.
FULL_ONLINE_RATE = (
    f"sum(events) FILTER (WHERE {SUBMITTED} AND mode = 'full_online')::double precision "
    f"/ nullif(sum(events) FILTER (WHERE {SUBMITTED}), 0)"
)
ON_TIME_RATE = "sum(on_time)::double precision / nullif(sum(on_time + overdue), 0)"
PER_MINUTE = f"({BUCKET_SECONDS} / 60)"

SUBMISSIONS_BY_CHANNEL = Query(
    f"SELECT {TIME_GROUP}, channel AS metric, "
    f"sum(events) FILTER (WHERE {SUBMITTED}) / {PER_MINUTE} AS value "
    f"FROM {rows('dossier_minute')} WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1"
)
RATES_BY_LEVEL = Query(
    f"SELECT {TIME_GROUP}, a.level AS metric, {FULL_ONLINE_RATE} AS value "
    f"FROM {rows('dossier_minute', 'd')} JOIN reference.agencies a "
    "ON a.code = d.agency AND a.scheme = '2024' "
    f"WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} GROUP BY 1, 2 ORDER BY 1"
)
ON_TIME = Query(
    f"SELECT {TIME_GROUP}, {ON_TIME_RATE} AS on_time_rate "
    f"FROM {rows('dossier_minute')} WHERE {WHERE} GROUP BY 1 ORDER BY 1"
)
PAYMENTS = Query(
    f"SELECT {TIME_GROUP}, status AS metric, sum(payments) / {PER_MINUTE} AS value "
    f"FROM {rows('payment_minute')} WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1"
)
PAYMENT_VALUE = Query(
    f"SELECT {TIME_GROUP}, payment_channel AS metric, sum(amount_vnd) AS value "
    f"FROM {rows('payment_minute')} WHERE {WHERE} AND status = 'success' GROUP BY 1, 2 ORDER BY 1"
)
BY_AGENCY = Query(
    "SELECT d.agency, a.name_en AS name, a.level, "
    f"sum(d.events) FILTER (WHERE d.{SUBMITTED}) AS submitted, "
    f"{FULL_ONLINE_RATE} AS full_online_rate, {ON_TIME_RATE} AS on_time_rate, "
    "sum(d.overdue) AS overdue, sum(d.fee_vnd) AS fees_vnd "
    f"FROM {rows('dossier_minute', 'd')} LEFT JOIN reference.agencies a "
    "ON a.code = d.agency AND a.scheme = '2024' "
    f"WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} "
    "GROUP BY 1, 2, 3 ORDER BY submitted DESC NULLS LAST",
    "table",
)
# The one dossier panel grouping by field: it reads the rollups with every dimension.
BY_FIELD = Query(
    f"SELECT field, sum(events) FILTER (WHERE {SUBMITTED}) AS submitted, "
    f"{ON_TIME_RATE} AS on_time_rate, sum(overdue) AS overdue "
    f"FROM {rows('dossier_minute', family='dossier_field')} WHERE {WHERE} "
    "GROUP BY 1 ORDER BY submitted DESC NULLS LAST",
    "table",
)


def total(expression: str, source: str = "dossier_minute", alias: str = "value") -> Query:
    """One figure over the time range and the chosen agencies (stat panels)."""
    return Query(f"SELECT {expression} AS {alias} FROM {rows(source)} WHERE {WHERE}", "table")


def online_payments() -> JSON:
    return stat(
        "Online payments",
        "Successful online payments.",
        total(
            "coalesce(sum(payments) FILTER (WHERE status = 'success'), 0)",
            "payment_minute",
            "payments",
        ),
    )


def payments_value() -> JSON:
    return stat(
        "Payments value (VND)",
        "Value of successful online payments.",
        total(
            "coalesce(sum(amount_vnd) FILTER (WHERE status = 'success'), 0)",
            "payment_minute",
            "amount_vnd",
        ),
    )


# Alert rule: a province's on-time rate below 90 % over the last hour.
ON_TIME_STEPS = ((None, "red"), (0.9, "yellow"), (0.95, "green"))


def build() -> JSON:
    layout = Layout()
    layout.add(
        stat(
            "Dossiers submitted",
            "Submissions in the time range.",
            total(f"coalesce(sum(events) FILTER (WHERE {SUBMITTED}), 0)", alias="submitted"),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Full-process online",
            "Share of submissions fully online (toàn trình).",
            total(FULL_ONLINE_RATE, alias="full_online_rate"),
            unit="percentunit",
            decimals=1,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "On-time completion",
            "Completions before their due time.",
            total(ON_TIME_RATE, alias="on_time_rate"),
            unit="percentunit",
            thresholds=ON_TIME_STEPS,
            decimals=1,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Overdue completions",
            "Dossiers completed after their due time.",
            total("coalesce(sum(overdue), 0)", alias="overdue"),
            thresholds=((None, "green"), (1.0, "orange")),
        ),
        4,
        4,
    )
    layout.add(online_payments(), 4, 4)
    layout.add(
        payments_value(),
        4,
        4,
    )
    layout.add(
        timeseries(
            "Submissions per minute by channel",
            "Portal, VNeID, agency systems, one-stop desks, postal.",
            SUBMISSIONS_BY_CHANNEL,
            stacked=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Full-process online rate: ministries vs provinces",
            "Share of submissions fully online, by agency level.",
            RATES_BY_LEVEL,
            unit="percentunit",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "On-time completion rate",
            "Alert rule: below 90 % over an hour.",
            ON_TIME,
            unit="percentunit",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Payments per minute by status",
            "Successful and failed payments.",
            PAYMENTS,
            stacked=True,
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Payments value by channel (VND per interval)",
            "Value of successful payments by payment channel.",
            PAYMENT_VALUE,
            stacked=True,
        ),
        8,
        8,
    )
    layout.add(table("Agencies", "Dossiers by agency over the time range.", BY_AGENCY,
                     sort_by="submitted", overrides=[
                         column_unit("full_online_rate", "percentunit", 1),
                         column_unit("on_time_rate", "percentunit", 1),
                     ]), 16, 10)  # fmt: skip
    field_units = [column_unit("on_time_rate", "percentunit", 1)]
    layout.add(
        table("Fields", "Dossiers by field of procedure.", BY_FIELD, sort_by="submitted",
              overrides=field_units),
        8, 10,
    )  # fmt: skip
    return board.dashboard(
        board.PUBLIC_SERVICES,
        "Public services",
        "National Public Service Portal: dossiers, online rates, deadlines and payments.",
        layout.panels,
    )
