"""Document axis: official documents sent and received per agency, delivery latency, failed
deliveries and invalid signatures on the National Document Interconnection Axis."""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, stat, table, timeseries
from dashboards.variables import (
    AGENCY_FILTER,
    BUCKET_SECONDS,
    RANGE_AND_AGENCY,
    TIME_GROUP,
    merged,
    rows,
)

WHERE = RANGE_AND_AGENCY
PER_MINUTE = f"({BUCKET_SECONDS} / 60)"
SENT = "action = 'sent'"
RECEIVED = "action = 'receipt' AND delivery_status IN ('delivered', 'acknowledged')"
FAILED = "action = 'receipt' AND delivery_status = 'failed'"
FAILURE_RATE = (
    f"sum(documents) FILTER (WHERE {FAILED})::double precision "
    "/ nullif(sum(documents) FILTER (WHERE action = 'receipt'), 0)"
)
P = "reference.histogram_quantile(" + merged("delivery_hist") + ", {q})"

FLOW = Query(
    f"SELECT {TIME_GROUP}, "
    f"coalesce(sum(documents) FILTER (WHERE {SENT}), 0) / {PER_MINUTE} AS sent, "
    f"coalesce(sum(documents) FILTER (WHERE {RECEIVED}), 0) / {PER_MINUTE} AS received, "
    f"coalesce(sum(documents) FILTER (WHERE {FAILED}), 0) / {PER_MINUTE} AS failed "
    f"FROM {rows('document_minute')} WHERE {WHERE} GROUP BY 1 ORDER BY 1"
)
LATENCY = Query(
    f"SELECT {TIME_GROUP}, {P.format(q=0.5)} AS p50, {P.format(q=0.95)} AS p95 "
    f"FROM {rows('document_minute')} WHERE {WHERE} AND action = 'receipt' GROUP BY 1 ORDER BY 1"
)
FAILURES = Query(
    f"SELECT {TIME_GROUP}, {FAILURE_RATE} AS failed_deliveries, "
    "sum(invalid_signature)::double precision "
    f"/ nullif(sum(documents) FILTER (WHERE {SENT}), 0) AS invalid_signatures "
    f"FROM {rows('document_minute')} WHERE {WHERE} GROUP BY 1 ORDER BY 1"
)
BY_URGENCY = Query(
    f"SELECT {TIME_GROUP}, urgency AS metric, sum(documents) / {PER_MINUTE} AS value "
    f"FROM {rows('document_minute')} WHERE {WHERE} AND {SENT} GROUP BY 1, 2 ORDER BY 1"
)
BY_AGENCY = Query(
    "SELECT d.agency, a.name_en AS name, "
    f"coalesce(sum(d.documents) FILTER (WHERE d.{SENT}), 0) AS sent, "
    "coalesce(sum(d.receivers), 0) AS receivers, "
    "coalesce(sum(d.documents) FILTER (WHERE d.action = 'receipt' "
    "AND d.delivery_status IN ('delivered', 'acknowledged')), 0) AS received, "
    "coalesce(sum(d.documents) FILTER (WHERE d.action = 'receipt' "
    "AND d.delivery_status = 'failed'), 0) AS failed, "
    "coalesce(sum(d.invalid_signature), 0) AS invalid_signatures "
    f"FROM {rows('document_minute', 'd')} LEFT JOIN reference.agencies a "
    "ON a.code = d.agency AND a.scheme = '2024' "
    f"WHERE $__timeFilter(d.bucket) AND d.{AGENCY_FILTER} GROUP BY 1, 2 ORDER BY sent DESC",
    "table",
)


def _total(expression: str, alias: str) -> Query:
    return Query(
        f"SELECT {expression} AS {alias} FROM {rows('document_minute')} WHERE {WHERE}", "table"
    )


# Alert rule: delivery failures above 1 %.
FAILURE_STEPS = ((None, "green"), (0.005, "yellow"), (0.01, "red"))


def build() -> JSON:
    layout = Layout()
    layout.add(
        stat(
            "Documents sent",
            "Documents sent in the time range.",
            _total(f"coalesce(sum(documents) FILTER (WHERE {SENT}), 0)", "sent"),
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Documents received",
            "Deliveries delivered or acknowledged.",
            _total(f"coalesce(sum(documents) FILTER (WHERE {RECEIVED}), 0)", "received"),
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Failed deliveries",
            "Share of deliveries that failed (alert: above 1 %).",
            _total(FAILURE_RATE, "failure_rate"),
            unit="percentunit",
            thresholds=FAILURE_STEPS,
            decimals=2,
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Invalid signatures",
            "Documents sent with an invalid digital signature.",
            _total("coalesce(sum(invalid_signature), 0)", "invalid_signatures"),
            thresholds=((None, "green"), (1.0, "orange")),
        ),
        6,
        4,
    )
    layout.add(
        timeseries("Documents per minute", "Sent, received and failed deliveries.", FLOW), 12, 8
    )
    layout.add(
        timeseries(
            "Delivery latency",
            "p50 and p95 from the merged delivery histograms.",
            LATENCY,
            unit="ms",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Failures",
            "Failed deliveries and invalid signatures, as shares.",
            FAILURES,
            unit="percentunit",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Sent per minute by urgency",
            "Normal, urgent (khẩn), express (hỏa tốc).",
            BY_URGENCY,
            stacked=True,
        ),
        12,
        8,
    )
    layout.add(table("Agencies", "Documents sent and received by agency.", BY_AGENCY,
                     sort_by="sent", overrides=[]), 24, 10)  # fmt: skip
    return board.dashboard(
        board.DOCUMENTS,
        "Document axis",
        "National Document Interconnection Axis: official documents between agencies.",
        layout.panels,
    )
