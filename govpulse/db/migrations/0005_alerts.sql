-- Alerting: one row per state transition of an alert (append-only, so the history of every alert
-- is kept), and silences. Plain tables on both PostgreSQL and TimescaleDB: they stay small.
-- `fingerprint` is rule{label=value,...}; the newest row of a fingerprint is its current state,
-- which the evaluator reads back after a restart so firing alerts are not notified twice.

CREATE TABLE alert_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,  -- evaluation time of the transition
    rule text NOT NULL,
    fingerprint text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'inactive')),
    severity text NOT NULL,
    value double precision,
    labels jsonb NOT NULL,
    summary text NOT NULL,
    runbook_url text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,  -- when the breach began
    fired_at timestamptz,
    resolved_at timestamptz,
    silenced boolean NOT NULL DEFAULT false,
    notified boolean NOT NULL DEFAULT false,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_fingerprint_idx ON alert_events (fingerprint, id DESC);
CREATE INDEX alert_events_at_idx ON alert_events (at DESC);

CREATE TABLE silences (
    id bigserial PRIMARY KEY,
    matchers jsonb NOT NULL CHECK (jsonb_typeof(matchers) = 'object' AND matchers <> '{}'),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    comment text NOT NULL DEFAULT '',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends_at_idx ON silences (ends_at);
