-- The tables the stream workers write, in the namespace's schema (unqualified names: the runner
-- sets search_path). Columns follow govpulse/db/tables.py exactly; a test compares them.
-- Workers upsert absolute values by primary key, so measures default to 0 and never go NULL.
-- `updated_at` is not part of the contract: workers leave it to its default on insert and set it
-- on update, and dashboards read it to show how fresh a row is.

CREATE TABLE dossier_minute (
    bucket timestamptz NOT NULL,
    agency text NOT NULL,
    channel text NOT NULL,
    mode text NOT NULL,
    status text NOT NULL,
    field text NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    on_time bigint NOT NULL DEFAULT 0,
    overdue bigint NOT NULL DEFAULT 0,
    digitised bigint NOT NULL DEFAULT 0,
    data_reused bigint NOT NULL DEFAULT 0,
    fee_vnd bigint NOT NULL DEFAULT 0,
    processing_s bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, agency, channel, mode, status, field)
);

CREATE TABLE payment_minute (
    bucket timestamptz NOT NULL,
    agency text NOT NULL,
    payment_channel text NOT NULL,
    status text NOT NULL,
    payments bigint NOT NULL DEFAULT 0,
    amount_vnd bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, agency, payment_channel, status)
);

-- Histograms hold govpulse.histogram.BUCKETS (16) counts; the check keeps a worker bug from
-- storing arrays that the quantile function would read against the wrong bounds.
CREATE TABLE ndxp_minute (
    bucket timestamptz NOT NULL,
    agency text NOT NULL,
    service text NOT NULL,
    provider text NOT NULL,
    result text NOT NULL,
    calls bigint NOT NULL DEFAULT 0,
    latency_ms_sum bigint NOT NULL DEFAULT 0,
    bytes_sum bigint NOT NULL DEFAULT 0,
    latency_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[16])
        CHECK (cardinality(latency_hist) = 16),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, agency, service, provider, result)
);

-- protection_level 0 means "not classified", so the key never holds NULL.
CREATE TABLE incident_minute (
    bucket timestamptz NOT NULL,
    agency text NOT NULL,
    category text NOT NULL,
    severity text NOT NULL,
    stage text NOT NULL,
    protection_level smallint NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    seconds_since_detected bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, agency, category, severity, stage, protection_level)
);

CREATE TABLE document_minute (
    bucket timestamptz NOT NULL,
    agency text NOT NULL,
    action text NOT NULL,
    urgency text NOT NULL,
    delivery_status text NOT NULL,
    documents bigint NOT NULL DEFAULT 0,
    receivers bigint NOT NULL DEFAULT 0,
    invalid_signature bigint NOT NULL DEFAULT 0,
    delivery_ms_sum bigint NOT NULL DEFAULT 0,
    delivery_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[16])
        CHECK (cardinality(delivery_hist) = 16),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, agency, action, urgency, delivery_status)
);

-- Every accepted event, for drill-down from a dashboard panel to the events behind it. The key
-- starts with the time column (TimescaleDB requires it) and makes a replayed event a no-op.
CREATE TABLE raw_events (
    occurred_at timestamptz NOT NULL,
    feed text NOT NULL,
    agency text NOT NULL,
    event_id uuid NOT NULL,
    payload jsonb NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (occurred_at, feed, event_id)
);
-- Drill-down asks "the latest events of this feed at this agency".
CREATE INDEX raw_events_feed_agency_time_idx ON raw_events (feed, agency, occurred_at DESC);

-- One row per wall-clock minute, feed and worker: what the pipeline itself did.
CREATE TABLE pipeline_health (
    bucket timestamptz NOT NULL,
    feed text NOT NULL,
    worker text NOT NULL,
    events_in bigint NOT NULL DEFAULT 0,
    invalid bigint NOT NULL DEFAULT 0,
    late bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    last_event_at timestamptz,
    flush_latency_ms_max integer NOT NULL DEFAULT 0,
    consumer_lag bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, feed, worker)
);
