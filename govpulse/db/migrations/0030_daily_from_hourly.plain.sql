-- Daily rollups read the hourly ones, as on TimescaleDB (hierarchical continuous aggregates,
-- see the .timescale.sql variant). Plain views compute both at query time from the minute
-- tables, so this changes no value: sums of sums, maxima of maxima, hist_merge of merged
-- histograms; it keeps the two backends' rollups defined alike.

CREATE OR REPLACE VIEW dossier_minute_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, channel, mode, status, field;

CREATE OR REPLACE VIEW payment_minute_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    payment_channel,
    status,
    sum(payments)::bigint AS payments,
    sum(amount_vnd)::bigint AS amount_vnd,
    max(updated_at) AS updated_at
FROM payment_minute_hourly
GROUP BY
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, payment_channel, status;

CREATE OR REPLACE VIEW ndxp_minute_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, service, provider, result;

CREATE OR REPLACE VIEW incident_minute_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, category, severity, stage, protection_level;

CREATE OR REPLACE VIEW document_minute_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, action, urgency, delivery_status;
