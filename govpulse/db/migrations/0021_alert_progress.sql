-- How far in event time the alert evaluator of this namespace has evaluated (event-time clock:
-- replay namespaces). Written in the transaction that records the transitions of that minute, so
-- a worker that takes over continues from the next minute: no minute is evaluated twice or
-- skipped. One row; absent until the first evaluation.

CREATE TABLE alert_progress (
    clock text PRIMARY KEY CHECK (clock = 'event'),
    as_of timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
