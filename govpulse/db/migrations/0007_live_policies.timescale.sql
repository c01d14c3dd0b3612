-- Time-based policies, for the live namespace only, added in this one transaction.
--
-- Retention, compression and continuous-aggregate refresh policies count back from now(). A
-- replay namespace holds historical event time (October 2024, say): retention would drop its
-- chunks at the next run, compression would compress chunks the worker is still upserting, and a
-- refresh would move the rollups' watermark past the replayed data, which real-time aggregation
-- then no longer shows. Without policies a replay namespace's rollups are computed in real time
-- from the minute tables, always complete; drop the namespace when done with it.
--
-- Until this migration, 0004 added the policies to every namespace and 0006 removed them from all
-- but live in a later transaction; the job scheduler could start them in between and deadlock
-- with the removal (issue 14). Databases migrated that way already hold exactly these policies
-- in live and none elsewhere (0006), so here every call is `if_not_exists` and adds nothing.
--
-- Minute tables: compressed after 7 days (workers only rewrite buckets within the grace period,
-- long before), kept 90 days (the rollups keep the history). Raw events, the largest table,
-- compressed after 7 days, kept 30 days for drill-down. Pipeline health: small, kept 30 days,
-- never compressed. Rollups: hourly refreshed every 15 minutes over the last 3 days (late and
-- replayed minutes land there), kept 2 years; daily (Vietnam days) refreshed hourly over the last
-- 7 days, kept. A refresh window must span at least two buckets; the current bucket is left to
-- real time.
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
        PERFORM add_compression_policy(minute_table::regclass, compress_after => INTERVAL '7 days',
            if_not_exists => TRUE);
        PERFORM add_retention_policy(minute_table::regclass, drop_after => INTERVAL '90 days',
            if_not_exists => TRUE);
        PERFORM add_continuous_aggregate_policy((minute_table || '_hourly')::regclass,
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
        PERFORM add_retention_policy((minute_table || '_hourly')::regclass,
            drop_after => INTERVAL '2 years', if_not_exists => TRUE);
        PERFORM add_continuous_aggregate_policy((minute_table || '_daily')::regclass,
            start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
    END LOOP;
    PERFORM add_compression_policy('raw_events'::regclass, compress_after => INTERVAL '7 days',
        if_not_exists => TRUE);
    PERFORM add_retention_policy('raw_events'::regclass, drop_after => INTERVAL '30 days',
        if_not_exists => TRUE);
    PERFORM add_retention_policy('pipeline_health'::regclass, drop_after => INTERVAL '30 days',
        if_not_exists => TRUE);
END
$$;
