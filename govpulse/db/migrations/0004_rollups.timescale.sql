-- TimescaleDB: hypertables, compression settings and continuous aggregates (real-time, so
-- the newest, not yet materialized buckets are aggregated at query time). Same view names and
-- columns as the plain variant. Needs TimescaleDB 2.13 or later (time_bucket with a time zone in
-- continuous aggregates; materialized_only defaults to true since 2.13, so it is set explicitly).
-- Continuous aggregates are created WITH NO DATA because materializing cannot run inside the
-- migration's transaction; the refresh policies fill them and real-time aggregation covers the gap.
-- No policy is added here: 0007 adds them to the live namespace only, in one transaction. (Adding
-- them here and removing them from other namespaces in a later transaction raced the job
-- scheduler, which started them in between and died as the deadlock victim.)
-- GROUP BY repeats the bucket expression: a bare `bucket` there would name the input column.

-- One-day chunks for the minute tables and raw events: the chunk being written stays small and
-- retention drops whole days. Pipeline health is small: weekly chunks.

SELECT create_hypertable('dossier_minute', 'bucket', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('payment_minute', 'bucket', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('ndxp_minute', 'bucket', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('incident_minute', 'bucket', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('document_minute', 'bucket', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('raw_events', 'occurred_at', chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('pipeline_health', 'bucket', chunk_time_interval => INTERVAL '7 days',
    if_not_exists => TRUE, migrate_data => TRUE);

-- Compression settings (the policy that compresses after 7 days is in 0007, live only). Segment
-- by agency (dashboards filter by it); order by the rest of the primary key so that uniqueness
-- checks on compressed chunks need not decompress (TimescaleDB warns otherwise).
ALTER TABLE dossier_minute SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'agency',
    timescaledb.compress_orderby = 'bucket DESC, channel, mode, status, field'
);
ALTER TABLE payment_minute SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'agency',
    timescaledb.compress_orderby = 'bucket DESC, payment_channel, status'
);
ALTER TABLE ndxp_minute SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'agency',
    timescaledb.compress_orderby = 'bucket DESC, service, provider, result'
);
ALTER TABLE incident_minute SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'agency',
    timescaledb.compress_orderby = 'bucket DESC, category, severity, stage, protection_level'
);
ALTER TABLE document_minute SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'agency',
    timescaledb.compress_orderby = 'bucket DESC, action, urgency, delivery_status'
);

-- Raw events: the largest table, compressed like the minute tables.
ALTER TABLE raw_events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'feed, agency',
    timescaledb.compress_orderby = 'occurred_at DESC, event_id'
);

-- Rollups: hourly, and daily by Vietnam days.

CREATE MATERIALIZED VIEW dossier_minute_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    channel,
    mode,
    status,
    field,
    sum(events)::bigint AS events,
    sum(on_time)::bigint AS on_time,
    sum(overdue)::bigint AS overdue,
    sum(digitised)::bigint AS digitised,
    sum(data_reused)::bigint AS data_reused,
    sum(fee_vnd)::bigint AS fee_vnd,
    sum(processing_s)::bigint AS processing_s,
    max(updated_at) AS updated_at
FROM dossier_minute
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, channel, mode, status, field
WITH NO DATA;

CREATE MATERIALIZED VIEW dossier_minute_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    channel,
    mode,
    status,
    field,
    sum(events)::bigint AS events,
    sum(on_time)::bigint AS on_time,
    sum(overdue)::bigint AS overdue,
    sum(digitised)::bigint AS digitised,
    sum(data_reused)::bigint AS data_reused,
    sum(fee_vnd)::bigint AS fee_vnd,
    sum(processing_s)::bigint AS processing_s,
    max(updated_at) AS updated_at
FROM dossier_minute
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, channel, mode, status, field
WITH NO DATA;

CREATE MATERIALIZED VIEW payment_minute_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    payment_channel,
    status,
    sum(payments)::bigint AS payments,
    sum(amount_vnd)::bigint AS amount_vnd,
    max(updated_at) AS updated_at
FROM payment_minute
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, payment_channel, status
WITH NO DATA;

CREATE MATERIALIZED VIEW payment_minute_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    payment_channel,
    status,
    sum(payments)::bigint AS payments,
    sum(amount_vnd)::bigint AS amount_vnd,
    max(updated_at) AS updated_at
FROM payment_minute
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, payment_channel, status
WITH NO DATA;

CREATE MATERIALIZED VIEW ndxp_minute_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    service,
    provider,
    result,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_minute
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, service, provider, result
WITH NO DATA;

CREATE MATERIALIZED VIEW ndxp_minute_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    service,
    provider,
    result,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_minute
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, service, provider, result
WITH NO DATA;

CREATE MATERIALIZED VIEW incident_minute_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    category,
    severity,
    stage,
    protection_level,
    sum(events)::bigint AS events,
    sum(seconds_since_detected)::bigint AS seconds_since_detected,
    max(updated_at) AS updated_at
FROM incident_minute
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, category, severity, stage, protection_level
WITH NO DATA;

CREATE MATERIALIZED VIEW incident_minute_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    category,
    severity,
    stage,
    protection_level,
    sum(events)::bigint AS events,
    sum(seconds_since_detected)::bigint AS seconds_since_detected,
    max(updated_at) AS updated_at
FROM incident_minute
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, category, severity, stage, protection_level
WITH NO DATA;

CREATE MATERIALIZED VIEW document_minute_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    action,
    urgency,
    delivery_status,
    sum(documents)::bigint AS documents,
    sum(receivers)::bigint AS receivers,
    sum(invalid_signature)::bigint AS invalid_signature,
    sum(delivery_ms_sum)::bigint AS delivery_ms_sum,
    hist_merge(delivery_hist) AS delivery_hist,
    max(updated_at) AS updated_at
FROM document_minute
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, action, urgency, delivery_status
WITH NO DATA;

CREATE MATERIALIZED VIEW document_minute_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    action,
    urgency,
    delivery_status,
    sum(documents)::bigint AS documents,
    sum(receivers)::bigint AS receivers,
    sum(invalid_signature)::bigint AS invalid_signature,
    sum(delivery_ms_sum)::bigint AS delivery_ms_sum,
    hist_merge(delivery_hist) AS delivery_hist,
    max(updated_at) AS updated_at
FROM document_minute
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, action, urgency, delivery_status
WITH NO DATA;
