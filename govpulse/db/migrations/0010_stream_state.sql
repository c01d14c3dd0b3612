-- What a stream worker needs to be exactly once in effect without Faust changelogs (design.md,
-- "Processing semantics", design (b)): every flush writes the additive aggregate deltas, the raw
-- archive, the event ids it counted and each partition's next offset in ONE transaction, so the
-- database alone says how far each partition has been applied. On assignment a worker reads its
-- partitions' rows here, skips records below `next_offset` and rebuilds its duplicate set from
-- `seen_ids` for the grace window.

CREATE TABLE stream_offsets (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL DEFAULT 0,
    -- Newest event minute counted in the partition (minutes since the epoch): the watermark
    -- lateness is judged against; bounded by the plausible-time check, never in the far future.
    watermark_minute bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- The ids counted by one flush of one partition, packed (16 bytes an event: the 63-bit id digest,
-- then a 32-bit content digest and the event minute), so that writing them costs one row a flush.
CREATE TABLE seen_ids (
    topic text NOT NULL,
    partition integer NOT NULL,
    max_minute bigint NOT NULL,
    entries bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seen_ids_partition_idx ON seen_ids (topic, partition, max_minute);

-- Refused input counted by reason (the dead letters' `reason`), per wall-clock minute, feed and
-- worker; pipeline_health keeps the total in `invalid`.
CREATE TABLE pipeline_rejects (
    bucket timestamptz NOT NULL,
    feed text NOT NULL,
    worker text NOT NULL,
    reason text NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, feed, worker, reason)
);

-- Rows the database refused after validation (a constraint, an overflow): kept with the reason
-- instead of crash-looping the flush; the events they stood for are counted in `quarantined`.
CREATE TABLE quarantine (
    id bigserial PRIMARY KEY,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    feed text NOT NULL,
    target text NOT NULL,
    reason text NOT NULL,
    events bigint NOT NULL,
    row_data text NOT NULL
);

ALTER TABLE pipeline_health
    ADD COLUMN counted bigint NOT NULL DEFAULT 0,
    ADD COLUMN quarantined bigint NOT NULL DEFAULT 0;
