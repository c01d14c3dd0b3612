"""Pipeline health: what the stream workers did, per wall-clock minute and feed: events in,
invalid, late and duplicate events, consumer lag, flush latency and data freshness."""

from __future__ import annotations

from dashboards import board
from dashboards.model import JSON, Layout, Query, column_unit, table, timeseries
from dashboards.variables import BUCKET_SECONDS, TIME_GROUP
from dashboards.variables import table as t

HEALTH = t("pipeline_health")
REJECTS = t("pipeline_rejects")


def _per_feed(expression: str) -> Query:
    return Query(
        f"SELECT {TIME_GROUP}, feed AS metric, {expression} AS value FROM {HEALTH} "
        "WHERE $__timeFilter(bucket) GROUP BY 1, 2 ORDER BY 1"
    )


# Freshness looks at all history up to the end of the range: a feed silent since before the
# range must show as stale, not vanish from the table.
FRESHNESS = Query(
    "SELECT feed, max(last_event_at) AS last_event_at, "
    "extract(epoch FROM now() - max(last_event_at)) AS event_age_s, "
    "max(updated_at) AS last_update, count(DISTINCT worker) AS workers "
    f"FROM {HEALTH} WHERE bucket <= $__timeTo() GROUP BY feed ORDER BY feed",
    "table",
)
# The reasons are the dead letters' `reason` codes (README, "What the worker refuses").
INVALID_BY_REASON = Query(
    f"SELECT {TIME_GROUP}, feed || ': ' || reason AS metric, sum(events) AS value "
    f"FROM {REJECTS} WHERE $__timeFilter(bucket) GROUP BY 1, 2 ORDER BY 1"
)
TOTALS = Query(
    "SELECT feed, sum(events_in) AS events_in, sum(counted) AS counted, sum(invalid) AS invalid, "
    "sum(late) AS late, sum(duplicates) AS duplicates, sum(quarantined) AS quarantined, "
    "max(consumer_lag) AS max_lag, "
    f"max(flush_latency_ms_max) AS max_flush_ms FROM {HEALTH} WHERE $__timeFilter(bucket) "
    "GROUP BY feed ORDER BY feed",
    "table",
)


def build() -> JSON:
    layout = Layout()
    layout.add(
        timeseries(
            "Events in per second",
            "Events consumed by the workers, by feed.",
            _per_feed(f"sum(events_in) / {BUCKET_SECONDS}"),
            unit="reqps",
            stacked=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Consumer lag",
            "Records behind the newest offset (worst worker).",
            _per_feed("max(consumer_lag)"),
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Invalid events", "Sent to <topic>.dlq with a reason.", _per_feed("sum(invalid)")
        ),
        8,
        7,
    )
    layout.add(
        timeseries(
            "Invalid events by reason",
            "Dead letters by reason code and feed: which producer problem to chase first.",
            INVALID_BY_REASON,
        ),
        8,
        7,
    )
    layout.add(
        timeseries(
            "Late events",
            "Older than the grace period: sent to <topic>.late.",
            _per_feed("sum(late)"),
        ),
        8,
        7,
    )
    layout.add(
        timeseries(
            "Duplicate events",
            "Same event id seen again, counted once.",
            _per_feed("sum(duplicates)"),
        ),
        8,
        7,
    )
    layout.add(
        timeseries(
            "Flush latency",
            "Longest wait of a row before it reached the database.",
            _per_feed("max(flush_latency_ms_max)"),
            unit="ms",
        ),
        12,
        7,
    )
    layout.add(table("Data freshness", "Newest event time per feed and how old it is now.",
                     FRESHNESS, overrides=[
                         column_unit("event_age_s", "s", 0),
                         column_unit("last_event_at", "dateTimeAsIso"),
                         column_unit("last_update", "dateTimeAsIso"),
                     ]), 12, 7)  # fmt: skip
    layout.add(table("Totals by feed", "Over the time range.", TOTALS,
                     overrides=[column_unit("max_flush_ms", "ms", 0)]), 24, 7)  # fmt: skip
    return board.dashboard(
        board.PIPELINE,
        "Pipeline health",
        "The stream workers themselves: throughput, bad input, lag and freshness per feed.",
        layout.panels,
    )
