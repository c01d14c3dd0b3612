-- Daily rollups built on the hourly ones (hierarchical continuous aggregates, TimescaleDB 2.9+).
--
-- A daily rollup is materialized for whole Vietnam days only, so until now the real-time part of
-- every daily query aggregated each minute row since Vietnam midnight (about a million dossier
-- rows by the evening at national scale): most of the time of a 30-day panel (issue 14, month
-- benchmark). Built on the hourly rollup, the real-time part reads at most 24 hourly rows per key
-- plus the minute rows after the hourly watermark (about an hour of them). Same names, columns
-- and values: sums of sums, maxima of maxima, hist_merge of merged histograms.
--
-- A continuous aggregate cannot change its source, so each daily one is dropped and created
-- again, empty. Nothing is lost: the hourly rollups keep 2 years (0007), and until a refresh
-- materializes the new daily rows, real-time aggregation computes them from the hourly ones.
-- Dropping removed live's daily refresh policy; it comes back here with a window of 35 days, so
-- its first run (within the hour) materializes the month dashboards read, and later runs only
-- redo the days the hourly rollups changed. Replay namespaces get no policy (0007).

DROP MATERIALIZED VIEW dossier_minute_daily;
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
FROM dossier_minute_hourly
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, channel, mode, status, field
WITH NO DATA;

DROP MATERIALIZED VIEW payment_minute_daily;
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
FROM payment_minute_hourly
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, payment_channel, status
WITH NO DATA;

DROP MATERIALIZED VIEW ndxp_minute_daily;
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
FROM ndxp_minute_hourly
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, service, provider, result
WITH NO DATA;

DROP MATERIALIZED VIEW incident_minute_daily;
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
FROM incident_minute_hourly
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, category, severity, stage, protection_level
WITH NO DATA;

DROP MATERIALIZED VIEW document_minute_daily;
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
FROM document_minute_hourly
GROUP BY
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, action, urgency, delivery_status
WITH NO DATA;

DO $$
DECLARE
    minute_table text;
BEGIN
    IF current_schema() <> 'live' THEN
        RETURN;
    END IF;
    FOREACH minute_table IN ARRAY ARRAY[
        'dossier_minute', 'payment_minute', 'ndxp_minute', 'incident_minute', 'document_minute'
    ] LOOP
        PERFORM add_continuous_aggregate_policy((minute_table || '_daily')::regclass,
            start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
    END LOOP;
END
$$;
