-- Histogram helpers, shared by every namespace. They live in `reference` (one copy per database)
-- and use CREATE OR REPLACE because each namespace's first migration runs this file again.
-- The bounds must equal govpulse.histogram.BOUNDS_MS: an integration test compares the SQL
-- quantile with the Python one.

-- Elementwise sum, treating NULL (array or element) as zero, so it can be the aggregate's state
-- function without an initial value, and histograms of different lengths lose no counts.
CREATE OR REPLACE FUNCTION reference.hist_add(a bigint[], b bigint[])
RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL THEN a
        ELSE ARRAY(
            SELECT coalesce(x, 0) + coalesce(y, 0)
            FROM unnest(a, b) WITH ORDINALITY AS pair(x, y, i)
            ORDER BY i
        )
    END
$$;

-- The combine function lets PostgreSQL aggregate in parallel and TimescaleDB use it in
-- continuous aggregates; the state is a plain array, so no (de)serialisation functions are needed.
CREATE OR REPLACE AGGREGATE reference.hist_merge(bigint[]) (
    SFUNC = reference.hist_add,
    STYPE = bigint[],
    COMBINEFUNC = reference.hist_add,
    PARALLEL = SAFE
);

-- The q-quantile (0..1) in milliseconds, interpolated inside its bucket; NULL when empty. The open
-- last bucket reports its lower bound (30000: "over 30 s"). Each step mirrors
-- govpulse.histogram.quantile in the same order of floating-point operations: both agree exactly.
CREATE OR REPLACE FUNCTION reference.histogram_quantile(hist bigint[], q double precision)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    bounds CONSTANT double precision[] := ARRAY[
        10, 20, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000
    ];
    total bigint;
    target double precision;
    seen bigint := 0;
    n bigint;
    lower_bound double precision;
BEGIN
    SELECT coalesce(sum(c), 0) INTO total FROM unnest(hist) AS c;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    target := q * total;
    FOR i IN 1 .. coalesce(array_length(hist, 1), 0) LOOP
        n := coalesce(hist[i], 0);
        IF n <> 0 AND seen + n >= target THEN
            lower_bound := CASE WHEN i = 1 THEN 0 ELSE bounds[i - 1] END;
            IF i > array_length(bounds, 1) THEN
                RETURN lower_bound;
            END IF;
            RETURN lower_bound + (bounds[i] - lower_bound) * (target - seen) / n;
        END IF;
        seen := seen + n;
    END LOOP;
    RETURN bounds[array_length(bounds, 1)];
END
$$;
