-- Time-based policies belong to the live namespace only.
--
-- Since issue 14, 0004 adds no policy (0007 adds live's), so on a new namespace this removes
-- nothing. It stays for databases where 0004 added them everywhere and this file then failed:
-- run again, it removes them.
--
-- Retention, compression and continuous-aggregate refresh policies count back from now(). A
-- replay namespace holds historical event time (October 2024, say): retention would drop its
-- chunks at the next run, compression would compress chunks the worker is still upserting, and a
-- refresh would move the rollups' watermark past the replayed data, which real-time aggregation
-- then no longer shows. Without policies a replay namespace's rollups are computed in real time
-- from the minute tables, always complete; drop the namespace when done with it.
DO $$
DECLARE
    item record;
BEGIN
    IF current_schema() = 'live' THEN
        RETURN;
    END IF;
    FOR item IN
        SELECT view_schema AS schema_name, view_name AS relation_name
        FROM timescaledb_information.continuous_aggregates
        WHERE view_schema = current_schema()
    LOOP
        PERFORM remove_continuous_aggregate_policy(
            format('%I.%I', item.schema_name, item.relation_name)::regclass, if_exists => true);
        PERFORM remove_retention_policy(
            format('%I.%I', item.schema_name, item.relation_name)::regclass, if_exists => true);
    END LOOP;
    FOR item IN
        SELECT hypertable_schema AS schema_name, hypertable_name AS relation_name
        FROM timescaledb_information.hypertables
        WHERE hypertable_schema = current_schema()
    LOOP
        PERFORM remove_retention_policy(
            format('%I.%I', item.schema_name, item.relation_name)::regclass, if_exists => true);
        PERFORM remove_compression_policy(
            format('%I.%I', item.schema_name, item.relation_name)::regclass, if_exists => true);
    END LOOP;
END
$$;
