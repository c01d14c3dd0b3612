-- hist_add, the step of the hist_merge aggregate, in PL/pgSQL: it adds into the running array in
-- place (PostgreSQL hands an aggregate's state to PL/pgSQL as an expanded array) instead of
-- building a new one through a subquery for every row. About twice as fast, which matters where
-- continuous aggregates merge histograms: their refreshes and the real-time part of every query
-- on a rollup. Same signature and results (NULL is an empty histogram; a shorter array counts as
-- zeros), so the aggregate and the rollups that use it stay as they are.
-- 0001 still creates the SQL version and every namespace's migration applies 0001 again first:
-- this file, applied after it, leaves this version in place.
CREATE OR REPLACE FUNCTION reference.hist_add(a bigint[], b bigint[])
RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF a IS NULL THEN
        RETURN b;
    END IF;
    IF b IS NULL THEN
        RETURN a;
    END IF;
    FOR i IN 1 .. coalesce(greatest(array_length(a, 1), array_length(b, 1)), 0) LOOP
        a[i] := coalesce(a[i], 0) + coalesce(b[i], 0);
    END LOOP;
    RETURN a;
END
$$;
