"""The notification outbox of a namespace (`alert_notifications`): receivers, keys, backoff and
the statements the worker's delivery loop and the CLI run.

One row per transition to notify and receiver, inserted in the transaction that records the
transition. Guarantees the statements give together:
- a row is `delivered` only after a 2xx answer, `expired` only once `expires_at` has passed;
- a claim pushes `next_attempt_at` past the request's timeout (a lease), so a worker killed in
  the middle of a request leaves the row due again soon, and two workers never send it at once;
- per receiver and alert, rows are sent in the order they were written (a resolution never
  overtakes its firing);
- `alert_events.notified` turns true when every row of the transition is delivered.

Receivers are identified by a digest of their URL; the URL itself (a chat webhook URL is a
credential) is never written to the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from psycopg import sql

from govpulse.settings import AlertSettings

BodyFormat = Literal["json", "text"]


@dataclass(frozen=True, slots=True)
class Receiver:
    url: str
    format: BodyFormat = "json"

    @property
    def id(self) -> str:
        return hashlib.sha256(f"{self.format} {self.url}".encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """`scheme://host[:port]/…`: enough to tell receivers apart, no path secrets."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


def receivers_of(settings: AlertSettings) -> list[Receiver]:
    return [Receiver(url, "json") for url in settings.webhook_urls] + [
        Receiver(url, "text") for url in settings.chat_webhook_urls
    ]


def idempotency_key(namespace: str, fingerprint: str, state: str, at: datetime) -> str:
    """The same for every attempt and every receiver of one transition; receivers drop repeats."""
    text = f"{namespace}|{fingerprint}|{state}|{at.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def backoff(attempts: int, settings: AlertSettings) -> timedelta:
    """The wait after the `attempts`-th failed attempt: doubling from the base, capped."""
    seconds = settings.webhook_backoff_s * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.webhook_backoff_max_s))


def _table(schema: str) -> sql.Identifier:
    return sql.Identifier(schema, "alert_notifications")


def insert_statement(schema: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {t} (event_id, fingerprint, state, receiver_id, receiver, format, "
        "idempotency_key, body, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
        "now() + %s) ON CONFLICT (idempotency_key, receiver_id) DO NOTHING"
    ).format(t=_table(schema))


def claim_statement(schema: str) -> sql.Composed:
    """Due rows, oldest first, each the oldest pending one of its receiver and alert; leased
    for `%(lease)s` so nobody else sends them meanwhile. Parameters: receivers, lease, limit."""
    return sql.SQL(
        "UPDATE {t} n SET next_attempt_at = now() + %(lease)s, attempts = n.attempts + 1 "
        "WHERE n.id IN (SELECT d.id FROM {t} d WHERE d.status = 'pending' "
        "AND d.next_attempt_at <= now() AND d.expires_at > now() "
        "AND d.receiver_id = ANY(%(receivers)s) AND NOT EXISTS (SELECT 1 FROM {t} e "
        "WHERE e.status = 'pending' AND e.receiver_id = d.receiver_id "
        "AND e.fingerprint = d.fingerprint AND e.id < d.id) "
        "ORDER BY d.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
        "RETURNING n.id, n.event_id, n.receiver_id, n.idempotency_key, n.body, n.attempts, "
        "n.fingerprint, n.state"
    ).format(t=_table(schema))


def delivered_statements(schema: str) -> tuple[sql.Composed, sql.Composed]:
    """Mark one row delivered (parameter: id), then its event notified when all rows are."""
    mark = sql.SQL(
        "UPDATE {t} SET status = 'delivered', delivered_at = now(), last_error = '' "
        "WHERE id = %s AND status = 'pending' RETURNING event_id"
    ).format(t=_table(schema))
    event = sql.SQL(
        "UPDATE {e} SET notified = true WHERE id = %(event)s AND NOT EXISTS "
        "(SELECT 1 FROM {t} WHERE event_id = %(event)s AND status <> 'delivered')"
    ).format(e=sql.Identifier(schema, "alert_events"), t=_table(schema))
    return mark, event


def failed_statement(schema: str) -> sql.Composed:
    """Reschedule a failed row (parameters: wait, error, id)."""
    return sql.SQL(
        "UPDATE {t} SET next_attempt_at = now() + %s, last_error = %s "
        "WHERE id = %s AND status = 'pending'"
    ).format(t=_table(schema))


def expire_statement(schema: str) -> sql.Composed:
    return sql.SQL(
        "UPDATE {t} SET status = 'expired' WHERE status = 'pending' AND expires_at <= now() "
        "RETURNING fingerprint, state, receiver, attempts, last_error"
    ).format(t=_table(schema))


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery of one transition's notifications, as `alerts list` shows it."""

    receivers: int = 0
    delivered: int = 0
    expired: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""

    def describe(self) -> str:
        if self.receivers == 0:
            return "-"
        if self.delivered == self.receivers:
            return f"delivered {self.delivered}/{self.receivers}"
        text = f"delivered {self.delivered}/{self.receivers}"
        if self.expired:
            text += f", {self.expired} expired"
        pending = self.receivers - self.delivered - self.expired
        if pending:
            at = self.next_attempt_at.isoformat(timespec="seconds") if self.next_attempt_at else "?"
            text += f", {pending} pending after {self.attempts} attempts (next {at})"
        if self.last_error:
            text += f": {self.last_error}"
        return text


def delivery_select(schema: str) -> sql.Composed:
    """Per transition (`event_id`): the columns of `Delivery`, for a LEFT JOIN."""
    return sql.SQL(
        "SELECT event_id, count(*) AS receivers, "
        "count(*) FILTER (WHERE status = 'delivered') AS delivered, "
        "count(*) FILTER (WHERE status = 'expired') AS expired, "
        "max(attempts) AS attempts, "
        "min(next_attempt_at) FILTER (WHERE status = 'pending') AS next_attempt_at, "
        "coalesce(max(last_error) FILTER (WHERE status <> 'delivered'), '') AS last_error "
        "FROM {t} GROUP BY event_id"
    ).format(t=_table(schema))
