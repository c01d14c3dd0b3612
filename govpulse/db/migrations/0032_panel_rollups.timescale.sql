-- Month panels within 500 ms (issue 14): two narrower rollup families, a `<rollup>_rows` view
-- per hourly and daily rollup, and live's hourly rollups refreshed closer to now.
--
-- A continuous aggregate with real-time aggregation answers for its newest buckets by grouping
-- the rows below it at query time, and with hierarchical rollups (daily on hourly on minute)
-- that grouping is nested: today's hourly rows are grouped into a daily row, and the minute
-- rows after the hourly watermark are grouped into hourly rows, then into headline rows, then
-- into the daily row. Over a month at national scale those groupings were most of a 30-day panel
-- (hist_merge alone about 600 ms for NDXP; issue 14, month benchmark). A panel sums its rows
-- again anyway, so it does not need them grouped first: each view here returns the rollup's
-- materialized buckets before its watermark, then the materialized hourly buckets up to the
-- hourly watermark (daily rollups), then the minute rows after that, ungrouped, with the
-- rollup's columns. Sums, counts and merged histograms over any range come out the same as
-- from the rollup; only the edge rows are finer (a range that starts inside the edge counts
-- from its start, not from the rollup bucket's). Where a rollup was never refreshed (replay
-- namespaces have no policies, 0007) its watermark is -infinity and the view is the minute rows.
--
-- The watermark expression is the one TimescaleDB writes into the continuous aggregate's own
-- view, so both read the same split. A migration that drops a rollup must drop its view first.
--
-- live's hourly rollups are refreshed every 5 minutes up to 5 minutes ago instead of every 15
-- minutes up to an hour ago: the minute edge a panel reads is then at most about an hour (the
-- current hour) instead of up to two. A late event in an hour already materialized invalidates
-- it and is in the rollup at the next refresh, at most 5 minutes later.
-- Two narrower families, for the panels that need neither dimension they drop (each hourly on
-- the wide hourly rollup, daily on its own hourly one, like 0031):
--   dossier_field: dossiers without channel and mode, for the "Fields" table (about six
--     times fewer rows than the wide rollup it read);
--   ndxp_latency: NDXP calls without provider and result, for the latency panels, whose
--     histograms (16 sums per row) were the costliest part of a 30-day NDXP dashboard.
CREATE MATERIALIZED VIEW dossier_field_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
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
GROUP BY time_bucket(INTERVAL '1 hour', bucket), agency, status, field
WITH NO DATA;

CREATE MATERIALIZED VIEW dossier_field_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
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
GROUP BY time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'), agency, status, field
WITH NO DATA;

CREATE MATERIALIZED VIEW ndxp_latency_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    agency,
    service,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_minute_hourly
GROUP BY time_bucket(INTERVAL '1 hour', bucket), agency, service
WITH NO DATA;

CREATE MATERIALIZED VIEW ndxp_latency_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket,
    agency,
    service,
    sum(calls)::bigint AS calls,
    sum(latency_ms_sum)::bigint AS latency_ms_sum,
    sum(bytes_sum)::bigint AS bytes_sum,
    hist_merge(latency_hist) AS latency_hist,
    max(updated_at) AS updated_at
FROM ndxp_latency_hourly
GROUP BY time_bucket(INTERVAL '1 day', bucket, 'Asia/Ho_Chi_Minh'), agency, service
WITH NO DATA;

DO $$
DECLARE
    family record;
    daily_view text;
    hourly_view text;
    daily_id integer;
    daily_table text;
    hourly_id integer;
    hourly_table text;
    columns text;
    hourly_mark text;
    daily_mark text;
    prefix text;
BEGIN
    FOR family IN SELECT * FROM (VALUES
        ('dossier_minute', 'dossier_minute'),
        ('payment_minute', 'payment_minute'),
        ('ndxp_minute', 'ndxp_minute'),
        ('incident_minute', 'incident_minute'),
        ('document_minute', 'document_minute'),
        ('dossier_headline', 'dossier_minute'),
        ('dossier_field', 'dossier_minute'),
        ('ndxp_latency', 'ndxp_minute')
    ) AS f (prefix, minute_table) LOOP
        hourly_view := family.prefix || '_hourly';
        daily_view := family.prefix || '_daily';
        SELECT h.id, format('%I.%I', h.schema_name, h.table_name) INTO hourly_id, hourly_table
        FROM _timescaledb_catalog.continuous_agg c
        JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
        WHERE c.user_view_schema = current_schema() AND c.user_view_name = hourly_view;
        SELECT h.id, format('%I.%I', h.schema_name, h.table_name) INTO daily_id, daily_table
        FROM _timescaledb_catalog.continuous_agg c
        JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
        WHERE c.user_view_schema = current_schema() AND c.user_view_name = daily_view;
        hourly_mark := format('COALESCE(_timescaledb_functions.to_timestamp('
            '_timescaledb_functions.cagg_watermark(%s)), ''-infinity''::timestamptz)', hourly_id);
        daily_mark := format('COALESCE(_timescaledb_functions.to_timestamp('
            '_timescaledb_functions.cagg_watermark(%s)), ''-infinity''::timestamptz)', daily_id);
        -- Hourly and daily rollups of a family have the same columns.
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
        FROM pg_attribute
        WHERE attrelid = format('%I.%I', current_schema(), hourly_view)::regclass
            AND attnum > 0 AND NOT attisdropped;
        EXECUTE format(
            'CREATE VIEW %I AS '
            'SELECT %s FROM %s WHERE bucket < %s '
            'UNION ALL SELECT %s FROM %I WHERE bucket >= %s',
            hourly_view || '_rows',
            columns, hourly_table, hourly_mark,
            columns, family.minute_table, hourly_mark);
        EXECUTE format(
            'CREATE VIEW %I AS '
            'SELECT %s FROM %s WHERE bucket < %s '
            'UNION ALL SELECT %s FROM %s WHERE bucket >= %s AND bucket < %s '
            'UNION ALL SELECT %s FROM %I WHERE bucket >= greatest(%s, %s)',
            daily_view || '_rows',
            columns, daily_table, daily_mark,
            columns, hourly_table, daily_mark, hourly_mark,
            columns, family.minute_table, daily_mark, hourly_mark);
    END LOOP;

    IF current_schema() <> 'live' THEN
        RETURN;
    END IF;
    -- The new families start empty. Their hourly refresh covers 35 days (not the 3 of the
    -- others), so its first run materializes what a month's panels read; later runs only redo
    -- what their parents changed. Older history in a database migrated before 0032 stays out
    -- of them until refreshed once by hand, e.g. (outside a transaction):
    --   CALL refresh_continuous_aggregate('live.dossier_field_hourly', NULL, now() - INTERVAL '35 days');
    -- then the same for dossier_field_daily, ndxp_latency_hourly and ndxp_latency_daily.
    FOREACH prefix IN ARRAY ARRAY['dossier_field', 'ndxp_latency'] LOOP
        PERFORM add_continuous_aggregate_policy((prefix || '_hourly')::regclass,
            start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
        PERFORM add_retention_policy((prefix || '_hourly')::regclass,
            drop_after => INTERVAL '2 years', if_not_exists => TRUE);
        PERFORM add_continuous_aggregate_policy((prefix || '_daily')::regclass,
            start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
    END LOOP;
    -- Every hourly refresh, the new ones included: every 5 minutes up to 5 minutes ago.
    PERFORM alter_job(j.job_id, schedule_interval => INTERVAL '5 minutes',
        config => jsonb_set(j.config, '{end_offset}', to_jsonb('00:05:00'::text)))
    FROM timescaledb_information.jobs j
    JOIN _timescaledb_catalog.continuous_agg c
        ON c.mat_hypertable_id = (j.config ->> 'mat_hypertable_id')::integer
    WHERE j.proc_name = 'policy_refresh_continuous_aggregate'
        AND c.user_view_schema = current_schema() AND c.user_view_name LIKE '%\_hourly';
END
$$;
