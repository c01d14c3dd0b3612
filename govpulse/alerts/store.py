"""The `alert_events` and `silences` tables of a namespace: statements and the CLI's access.

The evaluator (streams.alerting) runs the same statements on its own async connection; the CLI
uses the synchronous functions below. Statements are parameterised, identifiers composed with
`psycopg.sql`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from govpulse.alerts.notifications import Delivery, delivery_select
from govpulse.alerts.silences import Silence
from govpulse.db.connection import connect
from govpulse.settings import Settings

EVENT_COLUMNS = (
    "at", "rule", "fingerprint", "state", "severity", "value", "labels", "summary",
    "runbook_url", "started_at", "fired_at", "resolved_at", "silenced", "notify",
)  # fmt: skip


def insert_event_statement(schema: str) -> sql.Composed:
    """One transition; `notified` starts false and turns true on delivery (notifications)."""
    return sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING id").format(
        table=sql.Identifier(schema, "alert_events"),
        columns=sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(EVENT_COLUMNS)),
    )


def current_states_statement(schema: str) -> sql.Composed:
    """The newest row of every alert whose newest row is pending or firing."""
    return sql.SQL(
        "SELECT rule, labels, state, value, started_at, fired_at, notify FROM ("
        "SELECT DISTINCT ON (fingerprint) * FROM {table} ORDER BY fingerprint, id DESC) newest "
        "WHERE state IN ('pending', 'firing')"
    ).format(table=sql.Identifier(schema, "alert_events"))


def active_silences_statement(schema: str) -> sql.Composed:
    return sql.SQL(
        "SELECT id, matchers, starts_at, ends_at, comment, created_by FROM {table} "
        "WHERE ends_at > %(now)s ORDER BY id"
    ).format(table=sql.Identifier(schema, "silences"))


def silence_from_row(row: tuple[Any, ...]) -> Silence:
    return Silence(
        id=row[0], matchers=dict(row[1]), starts_at=row[2], ends_at=row[3],
        comment=row[4], created_by=row[5],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertRow:
    fingerprint: str
    rule: str
    state: str
    severity: str
    value: float | None
    labels: dict[str, str]
    summary: str
    started_at: datetime
    at: datetime
    silenced: bool
    delivery: Delivery


def _alert_row(row: tuple[Any, ...]) -> AlertRow:
    *alert, receivers, delivered, expired, attempts, next_at, error = row
    delivery = Delivery(receivers or 0, delivered or 0, expired or 0, attempts or 0, next_at, error)
    return AlertRow(*[*alert, delivery])


def list_alerts(settings: Settings, recent: timedelta) -> tuple[list[AlertRow], list[AlertRow]]:
    """(alerts firing now, transitions within `recent`), newest first, with the delivery of
    each transition's notifications."""
    table = sql.Identifier(settings.namespace, "alert_events")
    columns = sql.SQL(
        "e.fingerprint, e.rule, e.state, e.severity, e.value, e.labels, e.summary, e.started_at, "
        "e.at, e.silenced, d.receivers, d.delivered, d.expired, d.attempts, d.next_attempt_at, "
        "d.last_error"
    )
    delivery = delivery_select(settings.namespace)
    with connect(settings.db, autocommit=True) as conn:
        firing = conn.execute(
            sql.SQL(
                "SELECT {c} FROM (SELECT DISTINCT ON (fingerprint) * FROM {t} "
                "ORDER BY fingerprint, id DESC) e LEFT JOIN ({d}) d ON d.event_id = e.id "
                "WHERE e.state = 'firing' ORDER BY e.at DESC"
            ).format(c=columns, t=table, d=delivery)
        ).fetchall()
        history = conn.execute(
            sql.SQL(
                "SELECT {c} FROM {t} e LEFT JOIN ({d}) d ON d.event_id = e.id "
                "WHERE e.recorded_at > now() - %s ORDER BY e.id DESC LIMIT 200"
            ).format(c=columns, t=table, d=delivery),
            (recent,),
        ).fetchall()
    return [_alert_row(row) for row in firing], [_alert_row(row) for row in history]


def add_silence(
    settings: Settings,
    matchers: dict[str, str],
    duration: timedelta,
    comment: str,
    created_by: str,
    starts_at: datetime | None = None,
) -> Silence:
    if duration <= timedelta(0):
        raise ValueError("a silence needs a positive --duration")
    if duration > timedelta(days=30):
        raise ValueError("a silence may last at most 30 days")
    with connect(settings.db, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {t} (matchers, starts_at, ends_at, comment, created_by) "
                "VALUES (%(m)s, coalesce(%(s)s, now()), coalesce(%(s)s, now()) + %(d)s, "
                "%(c)s, %(b)s) RETURNING id, matchers, starts_at, ends_at, comment, created_by"
            ).format(t=sql.Identifier(settings.namespace, "silences")),
            {"m": Jsonb(matchers), "s": starts_at, "d": duration, "c": comment, "b": created_by},
        ).fetchone()
    assert row is not None
    return silence_from_row(row)


def list_silences(settings: Settings) -> list[Silence]:
    """Silences not yet ended."""
    with connect(settings.db, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()
        assert now is not None
        rows = conn.execute(active_silences_statement(settings.namespace), {"now": now[0]})
        return [silence_from_row(row) for row in rows.fetchall()]


def expire_silence(settings: Settings, silence_id: int) -> bool:
    """End a silence now; False when no such silence is active."""
    with connect(settings.db, autocommit=True) as conn:
        cursor = conn.execute(
            sql.SQL(
                "UPDATE {t} SET ends_at = greatest(now(), starts_at + interval '1 second') "
                "WHERE id = %s AND ends_at > now()"
            ).format(t=sql.Identifier(settings.namespace, "silences")),
            (silence_id,),
        )
        return cursor.rowcount == 1
