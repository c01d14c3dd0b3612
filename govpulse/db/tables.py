"""The contract between the stream workers and the database: aggregate tables and their columns.

Every 1-minute table has `bucket` (timestamptz, start of the minute in event time), `agency` and
the dimension columns as its primary key, then measure columns. Workers upsert the absolute
current value of each row (`INSERT … ON CONFLICT (key) DO UPDATE SET measure = EXCLUDED.measure`),
so a retry or a restart never double counts. The migrations create exactly these columns; a test
checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AggregateTable:
    name: str
    feed: str
    dimensions: tuple[str, ...]  # after bucket and agency; together the primary key
    measures: tuple[str, ...]  # bigint counters and sums, in this order
    histograms: tuple[str, ...] = ()  # bigint[] of histogram.BUCKETS counts

    @property
    def key(self) -> tuple[str, ...]:
        return ("bucket", "agency", *self.dimensions)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.key, *self.measures, *self.histograms)


DOSSIER_MINUTE = AggregateTable(
    name="dossier_minute",
    feed="portal.dossiers",
    dimensions=("channel", "mode", "status", "field"),
    # events: status changes; on_time/overdue: completions by due time; processing_s: seconds
    # from submission, summed over completions; fee_vnd, digitised, data_reused: on submissions.
    measures=(
        "events",
        "on_time",
        "overdue",
        "digitised",
        "data_reused",
        "fee_vnd",
        "processing_s",
    ),
)
PAYMENT_MINUTE = AggregateTable(
    name="payment_minute",
    feed="portal.payments",
    dimensions=("payment_channel", "status"),
    measures=("payments", "amount_vnd"),
)
NDXP_MINUTE = AggregateTable(
    name="ndxp_minute",
    feed="ndxp.transactions",
    dimensions=("service", "provider", "result"),
    measures=("calls", "latency_ms_sum", "bytes_sum"),
    histograms=("latency_hist",),
)
INCIDENT_MINUTE = AggregateTable(
    name="incident_minute",
    feed="cyber.incidents",
    # protection_level 0 stands for "not classified", so the key has no NULL.
    dimensions=("category", "severity", "stage", "protection_level"),
    # seconds_since_detected: summed over the events of the row (time to triage/contain/resolve).
    measures=("events", "seconds_since_detected"),
)
DOCUMENT_MINUTE = AggregateTable(
    name="document_minute",
    feed="vdxp.documents",
    # delivery_status is '' on `sent` rows.
    dimensions=("action", "urgency", "delivery_status"),
    # receivers: on sent rows; delivery_ms_sum and delivery_hist: on receipt rows.
    measures=("documents", "receivers", "invalid_signature", "delivery_ms_sum"),
    histograms=("delivery_hist",),
)

AGGREGATE_TABLES: dict[str, AggregateTable] = {
    table.feed: table
    for table in (DOSSIER_MINUTE, PAYMENT_MINUTE, NDXP_MINUTE, INCIDENT_MINUTE, DOCUMENT_MINUTE)
}

# Dimension columns that are integers in the database; all others are text.
INTEGER_DIMENSIONS = frozenset({"protection_level"})

RAW_EVENTS = "raw_events"  # (occurred_at, feed, agency, event_id uuid, payload jsonb)
PIPELINE_HEALTH = "pipeline_health"  # one row per wall-clock minute, feed and worker
PIPELINE_HEALTH_COLUMNS = (
    "bucket", "feed", "worker", "events_in", "invalid", "late", "duplicates",
    "last_event_at", "flush_latency_ms_max", "consumer_lag", "updated_at", "counted", "quarantined",
)  # fmt: skip
PIPELINE_REJECTS = "pipeline_rejects"  # invalid events by reason, per minute, feed and worker
PIPELINE_REJECTS_COLUMNS = ("bucket", "feed", "worker", "reason", "events")
