"""NDXP: data-sharing calls per second by provider service, errors and timeouts, latency
percentiles from the merged histograms, and the match rate of verification services."""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, column_unit, stat, table, timeseries
from dashboards.variables import (
    AGENCY_FILTER,
    BUCKET_SECONDS,
    RANGE_AND_AGENCY,
    TIME_GROUP,
    merged,
    rows,
)

WHERE = RANGE_AND_AGENCY
RANGE_SECONDS = "extract(epoch FROM $__timeTo()::timestamptz - $__timeFrom()::timestamptz)"
FAILED = "result IN ('error', 'timeout')"
# Percentiles come from summed histograms (design.md): never an average of percentiles.
P = "reference.histogram_quantile(" + merged("latency_hist") + ", {q})"
# Latency needs neither provider nor result: the narrower rollups, about half the rows.
LATENCY_ROWS = rows("ndxp_minute", family="ndxp_latency")

CALLS_PER_SECOND = Query(
    f"SELECT {TIME_GROUP}, service AS metric, sum(calls) / {BUCKET_SECONDS} AS value "
    f"FROM {rows('ndxp_minute')} WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1"
)
FAILURE_RATE = Query(
    f"SELECT {TIME_GROUP}, service AS metric, "
    f"sum(calls) FILTER (WHERE {FAILED})::double precision / nullif(sum(calls), 0) AS value "
    f"FROM {rows('ndxp_minute')} WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1"
)
LATENCY = Query(
    f"SELECT {TIME_GROUP}, {P.format(q=0.5)} AS p50, {P.format(q=0.95)} AS p95, "
    f"{P.format(q=0.99)} AS p99 FROM {LATENCY_ROWS} WHERE {WHERE} GROUP BY 1 ORDER BY 1"
)
# Match rate as the population database reports it: exact matches among answered verifications.
MATCH_RATE = Query(
    f"SELECT {TIME_GROUP}, m.service AS metric, "
    "sum(m.calls) FILTER (WHERE m.result = 'ok')::double precision "
    "/ nullif(sum(m.calls) FILTER (WHERE m.result IN ('ok', 'mismatch')), 0) AS value "
    f"FROM {rows('ndxp_minute', 'm')} JOIN reference.ndxp_services s ON s.code = m.service "
    f"WHERE $__timeFilter(m.bucket) AND m.{AGENCY_FILTER} AND s.verification "
    "GROUP BY 1, 2 ORDER BY 1"
)
# Calls and the p95 by service from the latency rollups (no result dimension, fewer rows), only
# the failed calls from the full ones: the histogram sums and most rows are read once, narrow.
BY_SERVICE = Query(
    f"WITH latency AS (SELECT service, sum(calls) AS calls, {P.format(q=0.95)} AS p95_ms "
    f"FROM {LATENCY_ROWS} WHERE {WHERE} GROUP BY service), "
    "failures AS (SELECT service, sum(calls) FILTER (WHERE result = 'error') AS errors, "
    "sum(calls) FILTER (WHERE result = 'timeout') AS timeouts "
    f"FROM {rows('ndxp_minute')} WHERE {WHERE} AND {FAILED} GROUP BY service) "
    "SELECT l.service, s.name_en AS name, s.provider, l.calls, "
    f"l.calls / {RANGE_SECONDS} AS calls_per_s, "
    "f.errors::double precision / nullif(l.calls, 0) AS error_rate, "
    "f.timeouts::double precision / nullif(l.calls, 0) AS timeout_rate, l.p95_ms "
    "FROM latency l LEFT JOIN failures f ON f.service = l.service "
    "LEFT JOIN reference.ndxp_services s ON s.code = l.service ORDER BY l.calls DESC",
    "table",
)
TOTAL_RATE = Query(
    f"SELECT sum(calls) / {RANGE_SECONDS} AS calls_per_s FROM {rows('ndxp_minute')} WHERE {WHERE}",
    "table",
)
TOTAL_FAILURE = Query(
    f"SELECT sum(calls) FILTER (WHERE {FAILED})::double precision / nullif(sum(calls), 0) "
    f"AS failure_rate FROM {rows('ndxp_minute')} WHERE {WHERE}",
    "table",
)
TOTAL_P95 = Query(f"SELECT {P.format(q=0.95)} AS p95_ms FROM {LATENCY_ROWS} WHERE {WHERE}", "table")

# Alert thresholds of the operations centre (domain.md): errors above 5 %, p95 above 2 s.
FAILURE_STEPS = ((None, "green"), (0.02, "yellow"), (0.05, "red"))
LATENCY_STEPS = ((None, "green"), (1000.0, "yellow"), (2000.0, "red"))


def build() -> JSON:
    layout = Layout()
    layout.add(
        stat(
            "Calls/s",
            "NDXP calls per second over the time range.",
            TOTAL_RATE,
            unit="reqps",
            decimals=1,
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Error + timeout rate",
            "Share of calls that failed or timed out.",
            TOTAL_FAILURE,
            unit="percentunit",
            thresholds=FAILURE_STEPS,
            decimals=2,
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "p95 latency",
            "95th percentile of call latency over the range.",
            TOTAL_P95,
            unit="ms",
            thresholds=LATENCY_STEPS,
            decimals=0,
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Verification calls/s",
            "Calls to verification services per second.",
            Query(
                f"SELECT sum(m.calls) / {RANGE_SECONDS} AS calls_per_s "
                f"FROM {rows('ndxp_minute', 'm')} JOIN reference.ndxp_services s "
                f"ON s.code = m.service WHERE $__timeFilter(m.bucket) "
                f"AND m.{AGENCY_FILTER} AND s.verification",
                "table",
            ),
            unit="reqps",
            decimals=1,
        ),
        6,
        4,
    )
    layout.add(
        timeseries(
            "Calls/s by provider service",
            "Data-sharing calls per second, by the service answering them.",
            CALLS_PER_SECOND,
            unit="reqps",
            stacked=True,
        ),
        24,
        9,
    )
    layout.add(
        timeseries(
            "Error + timeout rate by service",
            "Alert rule: above 5 % for 5 minutes on a provider service.",
            FAILURE_RATE,
            unit="percentunit",
        ),
        12,
        9,
    )
    layout.add(
        timeseries(
            "Latency percentiles",
            "p50, p95 and p99 from the merged latency histograms (alert: p95 > 2 s).",
            LATENCY,
            unit="ms",
        ),
        12,
        9,
    )
    layout.add(
        timeseries(
            "Verification match rate",
            "Exact matches among answered verifications (ok / (ok + mismatch)).",
            MATCH_RATE,
            unit="percentunit",
        ),
        12,
        9,
    )
    layout.add(table("Provider services", "Calls, failures and p95 latency by service.",
                     BY_SERVICE, sort_by="calls", overrides=[
                         column_unit("calls_per_s", "reqps", 2),
                         column_unit("error_rate", "percentunit", 2),
                         column_unit("timeout_rate", "percentunit", 2),
                         column_unit("p95_ms", "ms", 0),
                     ]), 12, 9)  # fmt: skip
    return board.dashboard(
        board.NDXP,
        "NDXP — data sharing",
        "National Data Integration and Sharing Platform: volume, failures, latency, matches.",
        layout.panels,
    )
