-- Durable alert notifications: an outbox row per transition and receiver, written in the same
-- transaction as the transition's alert_events row, so a notification is never lost between
-- recording and sending. The group leader delivers due rows; a row is `delivered` only when the
-- receiver answered 2xx, retried with backoff (across restarts: the schedule lives here) until
-- delivered or `expired`. Receivers are stored by an id and a redacted name, never by URL:
-- chat webhook URLs are credentials and this table is readable by the dashboards' role.

-- `notify`: a notification was owed for this transition (the state machine's decision);
-- `notified` (0005) now means every receiver acknowledged it with 2xx.
ALTER TABLE alert_events ADD COLUMN notify boolean NOT NULL DEFAULT false;
UPDATE alert_events SET notify = notified;

CREATE TABLE alert_notifications (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    state text NOT NULL,
    receiver_id text NOT NULL,      -- digest of the receiver's URL and format
    receiver text NOT NULL,         -- scheme://host/… for people; never the full URL
    format text NOT NULL CHECK (format IN ('json', 'text')),
    idempotency_key text NOT NULL,
    body jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'expired')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    delivered_at timestamptz,
    UNIQUE (idempotency_key, receiver_id)
);
CREATE INDEX alert_notifications_due_idx ON alert_notifications (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX alert_notifications_event_idx ON alert_notifications (event_id);
CREATE INDEX alert_notifications_order_idx ON alert_notifications (receiver_id, fingerprint, id)
    WHERE status = 'pending';
