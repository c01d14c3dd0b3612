-- One index on raw_events instead of two: the primary key becomes (feed, agency, occurred_at,
-- event_id), which is also what drill-down asks ("the latest events of this feed at these
-- agencies"), so the separate drill-down index goes. Every archived event paid for both: about
-- 1.4 µs of PostgreSQL's CPU per event of the 6.2 µs the archive's COPY cost (docs/performance.md,
-- sixteenth session). A replayed event is still a no-op: the same event has the same feed,
-- agency, time and id.
-- Rebuilding the key reads the whole table under an exclusive lock: on a large live archive,
-- run `govpulse db migrate` while the workers are stopped (they resume where they stopped).
ALTER TABLE raw_events DROP CONSTRAINT raw_events_pkey;
DROP INDEX raw_events_feed_agency_time_idx;
ALTER TABLE raw_events ADD PRIMARY KEY (feed, agency, occurred_at, event_id);
