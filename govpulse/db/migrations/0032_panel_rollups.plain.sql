-- Month panels (see the .timescale.sql variant): the two narrower rollup families and a
-- `<rollup>_rows` view per rollup. On plain PostgreSQL the rollups are views computed from the
-- minute rows at every query, so the narrower ones are views over the wide hourly ones and each
-- `_rows` view is simply its rollup: both backends offer the same relations with the same
-- columns and values.

CREATE VIEW dossier_field_hourly AS
SELECT
    bucket,
    agency,
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
GROUP BY bucket, agency, status, field;

CREATE VIEW dossier_field_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
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
FROM dossier_field_hourly
GROUP BY date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'), agency, status, field;

CREATE VIEW ndxp_latency_hourly AS
SELECT
    bucket,
    agency,
    service,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_minute_hourly
GROUP BY bucket, agency, service;

CREATE VIEW ndxp_latency_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    service,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_latency_hourly
GROUP BY date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'), agency, service;

DO $$
DECLARE
    rollup text;
BEGIN
    FOREACH rollup IN ARRAY ARRAY[
        'dossier_minute_hourly', 'dossier_minute_daily',
        'payment_minute_hourly', 'payment_minute_daily',
        'ndxp_minute_hourly', 'ndxp_minute_daily',
        'incident_minute_hourly', 'incident_minute_daily',
        'document_minute_hourly', 'document_minute_daily',
        'dossier_headline_hourly', 'dossier_headline_daily',
        'dossier_field_hourly', 'dossier_field_daily',
        'ndxp_latency_hourly', 'ndxp_latency_daily'
    ] LOOP
        EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I', rollup || '_rows', rollup);
    END LOOP;
END
$$;
