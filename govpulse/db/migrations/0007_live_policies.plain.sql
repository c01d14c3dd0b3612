-- Plain PostgreSQL has no time-based policies (see the timescale variant); this file keeps the
-- version sequence the same on both kinds of database.
SELECT 1;
