"""The alert evaluator: every few seconds, each rule's measure is queried, its state machine
advanced, and each transition recorded in `alert_events` (with, in the same transaction, one
outbox row per receiver when it is to be notified) and published to `<namespace>.alerts`.

`evaluate_once()` is what the worker's leader-only timer calls (`streams.alerting.worker`) and
what tests call with a fake clock. Rules are evaluated at minute boundaries: live at the wall
clock, in a replay namespace at every minute the data has reached (`streams.alerting.eventtime`);
a transition's `at` is that evaluation time. Guarantees:
- a failing database skips the evaluation (logged, counted) and never raises into the worker;
  a rule whose query fails is skipped alone, its state untouched;
- transitions that could not be recorded are kept and written with the next evaluation;
- in event time, each minute is evaluated once: the progress is recorded with the minute's
  transitions, and a worker taking over continues after it;
- after a restart, alerts recorded as pending or firing are taken over, not notified again, and
  the notifications still owed (outbox rows not delivered) are delivered by whoever evaluates;
- publishing and notifying never block on a receiver (webhooks are delivered in the background
  from the outbox, `streams.alerting.webhooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import psycopg
from psycopg.types.json import Jsonb

from govpulse.alerts.notifications import Receiver, idempotency_key
from govpulse.alerts.notifications import insert_statement as insert_notification_statement
from govpulse.alerts.rules import Rule, load_rules
from govpulse.alerts.silences import Silence, silenced
from govpulse.alerts.store import (
    active_silences_statement,
    current_states_statement,
    insert_event_statement,
    silence_from_row,
)
from govpulse.db.connection import one_line
from govpulse.settings import Settings
from streams.alerting.eventtime import (
    clock_of,
    event_steps,
    extent_statement,
    intake_statement,
    lagging_statement,
    progress_statements,
    reached,
    wall_as_of,
)
from streams.alerting.ruleset import RuleSet
from streams.alerting.state import AlertState, Tracker, Transition
from streams.alerting.webhooks import OutboxDelivery, bodies, json_body

log = logging.getLogger(__name__)


def alerts_topic(namespace: str) -> str:
    return f"{namespace}.alerts"


class AlertPublisher(Protocol):
    async def publish(self, key: bytes, value: bytes) -> None:
        """Send one record to the alerts topic; may raise, the evaluator logs it."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class EvaluatorStats:
    evaluations: int = 0
    failed_evaluations: int = 0
    failed_rules: int = 0
    transitions: int = 0
    publish_failures: int = 0


class AlertEvaluator:
    def __init__(
        self,
        settings: Settings,
        rules: Sequence[Rule] | None = None,
        publisher: AlertPublisher | None = None,
        delivery: OutboxDelivery | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock`: the wall clock's stand-in (tests); giving one evaluates at it, whatever the
        namespace's setting."""
        self.settings = settings
        self.namespace = settings.namespace
        chosen = rules if rules is not None else load_rules(settings.alerts.rules_file or None)
        self.ruleset = RuleSet(self.namespace, chosen)
        self.compiled = self.ruleset.compiled
        self.books = self.ruleset.books
        self.mode = "wall" if clock is not None else clock_of(settings.alerts, self.namespace)
        self.event_time: datetime | None = None  # the last minute evaluated in event time
        self._intake: tuple[Any, ...] | None = None  # intake and extents at the last tick
        self.publisher = publisher
        self.delivery = delivery or OutboxDelivery(settings)
        self.receivers: list[Receiver] = list(self.delivery.receivers.values())
        self.expiry = timedelta(seconds=settings.alerts.notification_expiry_s)
        self.clock = clock or wall_clock
        self.stats = EvaluatorStats()
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._restored = False
        self._started = False
        self._unrecorded: list[Transition] = []
        self._insert = insert_event_statement(self.namespace)
        self._insert_notification = insert_notification_statement(self.namespace)
        self._read_progress, self._write_progress = progress_statements(self.namespace)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.delivery.start()

    async def close(self) -> None:
        await self.delivery.stop()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def evaluate_once(self) -> list[Transition]:
        """Evaluate every rule at the times due (live: the last minute boundary; event time:
        each minute the data reached since the last evaluation); returns the transitions."""
        await self.start()
        now = self.clock()
        transitions: list[Transition] = []
        try:
            connection = await self._connect()
            if not self._restored:
                await self._restore(connection)
                self._restored = True
            silences = await self._silences(connection, now)
            for as_of in await self._due(connection, now):
                self._unrecorded += await self.ruleset.step(
                    connection, as_of, lambda labels: silenced(silences, labels, now)
                )
                transitions += await self._record(
                    connection, as_of if self.mode == "event" else None
                )
        except psycopg.Error as exc:
            self.stats.failed_evaluations += 1
            await self._drop()
            log.warning("alert evaluation skipped: database unavailable (%s)", one_line(exc))
            # What was recorded before the failure is published below; the rest is retried.
        else:
            self.stats.evaluations += 1
        self.stats.failed_rules = self.ruleset.failed_rules
        self.stats.transitions += len(transitions)
        for transition in transitions:
            log.info(
                "alert %s %s at %s (value %s)%s", transition.fingerprint, transition.state.value,
                transition.at.isoformat(), transition.value,
                " [silenced]" if transition.silenced else "",
            )  # fmt: skip
            await self._publish(transition)
        if any(t.notify for t in transitions):
            self.delivery.wake()
        return transitions

    async def _due(self, connection: psycopg.AsyncConnection[Any], now: datetime) -> list[datetime]:
        """The evaluation times of this tick."""
        alerts = self.settings.alerts
        if self.mode == "wall":
            return [wall_as_of(now, alerts.settle_s)]
        async with connection.cursor() as cursor:
            await cursor.execute(lagging_statement(self.namespace))
            lagging = await cursor.fetchone()
            if lagging is not None and lagging[0] > 0:
                return []  # the workers are still catching up: minutes may be incomplete
            await cursor.execute(intake_statement(self.namespace))
            intake = await cursor.fetchone()
            await cursor.execute(extent_statement(self.namespace))
            extents = await cursor.fetchall()
        # Data still arriving may be uneven across partitions (a sparse one read far ahead of a
        # busy one): evaluate only once nothing arrived since the previous tick.
        previous, self._intake = self._intake, (intake, extents)
        if (intake, extents) != previous:
            return []
        target = reached(
            (newest for _, _, newest in extents), timedelta(seconds=alerts.event_time_max_lag_s)
        )
        if target is None:
            return []  # no data yet
        oldest = min(oldest for _, oldest, _ in extents)
        settled = target - timedelta(seconds=alerts.event_settle_s)
        return event_steps(self.event_time, oldest, settled, alerts.max_steps_per_evaluation)

    async def _silences(
        self, connection: psycopg.AsyncConnection[Any], now: datetime
    ) -> list[Silence]:
        async with connection.cursor() as cursor:
            await cursor.execute(active_silences_statement(self.namespace), {"now": now})
            return [silence_from_row(row) for row in await cursor.fetchall()]

    async def _record(
        self, connection: psycopg.AsyncConnection[Any], event_time: datetime | None = None
    ) -> list[Transition]:
        """Write every transition not yet recorded (this evaluation's and any left over by a
        failed one) with its notifications and the event-time progress, in one transaction;
        returns them, to be published."""
        recorded, self._unrecorded = self._unrecorded, []
        if not recorded and event_time is None:
            return recorded
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                if event_time is not None:
                    await cursor.execute(self._write_progress, (event_time,))
                for transition in recorded:
                    await cursor.execute(self._insert, _event_row(transition))
                    row = await cursor.fetchone()
                    assert row is not None
                    if transition.notify and self.receivers:
                        await cursor.executemany(
                            self._insert_notification, self._notification_rows(row[0], transition)
                        )
        except psycopg.Error:
            self._unrecorded = recorded + self._unrecorded
            raise
        if event_time is not None:
            self.event_time = event_time
        return recorded

    def _notification_rows(self, event_id: int, t: Transition) -> list[tuple[Any, ...]]:
        key = idempotency_key(self.namespace, t.fingerprint, t.state.value, t.at)
        body = bodies(t, self.namespace, key)
        rows = []
        for r in self.receivers:
            rows.append(
                (event_id, t.fingerprint, t.state.value, r.id, r.name, r.format, key,
                 Jsonb(body[r.format]), self.expiry)
            )  # fmt: skip
        return rows

    async def _restore(self, connection: psycopg.AsyncConnection[Any]) -> None:
        async with connection.cursor() as cursor:
            if self.mode == "event":
                await cursor.execute(self._read_progress)
                progress = await cursor.fetchone()
                self.event_time = progress[0] if progress else None
            await cursor.execute(current_states_statement(self.namespace))
            rows = await cursor.fetchall()
        for rule_name, labels, state, value, started_at, fired_at, notify in rows:
            book = self.books.get(rule_name)
            if book is None or set(labels) != set(book.rule.group_by):
                continue  # the rule was removed or regrouped: its old alerts are not resumed
            key = tuple(str(labels[label]) for label in book.rule.group_by)
            book.restore(
                key,
                Tracker(
                    state=AlertState(state), started_at=started_at, fired_at=fired_at,
                    notified=notify, value=value,
                ),
            )  # fmt: skip
        if rows:
            log.info("alerting: took over %d pending or firing alerts", len(rows))

    async def _publish(self, transition: Transition) -> None:
        if self.publisher is None:
            return
        body = json_body(transition, self.namespace) | {"notify": transition.notify}
        try:
            await self.publisher.publish(transition.fingerprint.encode(), orjson.dumps(body))
        except Exception as exc:  # the topic is a copy; the database row is the record
            self.stats.publish_failures += 1
            log.warning("alerts topic: publish failed: %s", exc)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.settings.db.conninfo(), autocommit=True
            )
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)


def _event_row(t: Transition) -> tuple[Any, ...]:
    return (
        t.at, t.rule.name, t.fingerprint, t.state.value, t.rule.severity.value, t.value,
        Jsonb(t.labels), t.summary, t.rule.runbook_url, t.started_at, t.fired_at,
        t.resolved_at, t.silenced, t.notify,
    )  # fmt: skip
