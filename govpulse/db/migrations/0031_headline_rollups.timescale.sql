-- Headline rollups: dossiers without the field dimension (agency, channel, mode, status), hourly
-- and daily, for the panels that never group by field (all but the "Fields" table).
--
-- A month of daily dossier rows is about six times smaller without field at national scale
-- (4.0 k rows per weekday instead of 24.5 k; hourly 49 k instead of 195 k), and every dossier
-- figure of a 30-day dashboard reads it (issue 14, month benchmark). Both are hierarchical
-- continuous aggregates: the hourly one on dossier_minute_hourly, the daily one (Vietnam days)
-- on the hourly one, so the real-time edge of a daily query reads today's narrow hourly rows,
-- the wide hourly rows after the narrow hourly watermark and the minute rows after the wide one:
-- at most about an hour of each. Created empty; until a refresh materializes them, real-time
-- aggregation computes them from the rollups below. dashboards/variables.py picks them.
-- live gets the same policies as the wide rollups (0007, 0030); replay namespaces none.

CREATE MATERIALIZED VIEW dossier_headline_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
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
GROUP BY
    time_bucket(INTERVAL '1 hour', bucket),
    agency, channel, mode, status
WITH NO DATA;

CREATE MATERIALIZED VIEW dossier_headline_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'),
    agency, channel, mode, status
WITH NO DATA;

DO $$
BEGIN
    IF current_schema() <> 'live' THEN
        RETURN;
    END IF;
    PERFORM add_continuous_aggregate_policy('dossier_headline_hourly'::regclass,
        start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
        schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
    PERFORM add_retention_policy('dossier_headline_hourly'::regclass,
        drop_after => INTERVAL '2 years', if_not_exists => TRUE);
    PERFORM add_continuous_aggregate_policy('dossier_headline_daily'::regclass,
        start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour',
        schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
END
$$;
