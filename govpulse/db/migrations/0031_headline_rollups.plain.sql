-- Headline rollups: dossiers without the field dimension, hourly and daily, for the panels that
-- never group by field (see the .timescale.sql variant). Plain views over the wide ones, so the
-- two backends offer the same relations with the same columns and values.

CREATE VIEW dossier_headline_hourly AS
SELECT
    bucket,
    agency,
    channel,
    mode,
    status,
    sum(events)::bigint AS events,
    sum(on_time)::bigint AS on_time,
    sum(overdue)::bigint AS overdue,
    sum(digitised)::bigint AS digitised,
    sum(data_reused)::bigint AS data_reused,
    sum(fee_vnd)::bigint AS fee_vnd,
    sum(processing_s)::bigint AS processing_s,
    max(updated_at) AS updated_at
FROM dossier_minute_hourly
GROUP BY bucket, agency, channel, mode, status;

CREATE VIEW dossier_headline_daily AS
SELECT
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    channel,
    mode,
    status,
    sum(events)::bigint AS events,
    sum(on_time)::bigint AS on_time,
    sum(overdue)::bigint AS overdue,
    sum(digitised)::bigint AS digitised,
    sum(data_reused)::bigint AS data_reused,
    sum(fee_vnd)::bigint AS fee_vnd,
    sum(processing_s)::bigint AS processing_s,
    max(updated_at) AS updated_at
FROM dossier_headline_hourly
GROUP BY
    date_trunc('day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, channel, mode, status;
