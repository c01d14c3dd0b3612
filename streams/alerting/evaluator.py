"""The alert evaluator: every few seconds, each rule's measure is queried, its state machine
advanced, and each transition recorded in `alert_events`, published to `<namespace>.alerts` and,
when it is to be notified, queued for the webhooks.

`evaluate_once()` is what the worker's leader-only timer calls (`streams.alerting.worker`) and
what tests call with a fake clock. Guarantees:
- a failing database skips the evaluation (logged, counted) and never raises into the worker;
  a rule whose query fails is skipped alone, its state untouched;
- transitions that could not be recorded are kept and written with the next evaluation;
- after a restart, alerts recorded as pending or firing are taken over, not notified again;
- publishing and notifying never block on a receiver (webhooks are delivered in the background).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from govpulse.alerts.measures import MEASURES, QueryContext
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
from streams.alerting.state import AlertState, LabelKey, RuleBook, Tracker, Transition
from streams.alerting.webhooks import WebhookNotifier, json_body

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


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    statement: sql.Composed
    context: QueryContext


class AlertEvaluator:
    def __init__(
        self,
        settings: Settings,
        rules: Sequence[Rule] | None = None,
        publisher: AlertPublisher | None = None,
        notifier: WebhookNotifier | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        chosen = rules if rules is not None else load_rules(settings.alerts.rules_file or None)
        self.compiled = [self._compile(rule) for rule in chosen]
        self.books = {rule.name: RuleBook(rule) for rule in chosen}
        self.publisher = publisher
        self.notifier = notifier or WebhookNotifier(settings.alerts, settings.namespace)
        self.clock = clock
        self.stats = EvaluatorStats()
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._restored = False
        self._started = False
        self._unrecorded: list[Transition] = []
        self._insert = insert_event_statement(self.namespace)

    def _compile(self, rule: Rule) -> _Compiled:
        statement, context = MEASURES[rule.measure].query(
            self.namespace, rule.group_by, rule.params
        )
        return _Compiled(rule, statement, context)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.notifier.start()

    async def close(self) -> None:
        await self.notifier.stop()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def evaluate_once(self) -> list[Transition]:
        """One evaluation of every rule at `clock()`; returns the transitions it produced."""
        await self.start()
        now = self.clock()
        try:
            connection = await self._connect()
            if not self._restored:
                await self._restore(connection)
                self._restored = True
            silences = await self._silences(connection, now)
            transitions: list[Transition] = []
            for compiled in self.compiled:
                values = await self._values(connection, compiled, now)
                if values is None:
                    continue
                book = self.books[compiled.rule.name]
                transitions += book.evaluate(
                    values, now, lambda labels: silenced(silences, labels, now)
                )
            self._unrecorded += transitions
            transitions = await self._record(connection)
        except psycopg.Error as exc:
            self.stats.failed_evaluations += 1
            await self._drop()
            log.warning("alert evaluation skipped: database unavailable (%s)", one_line(exc))
            return []
        self.stats.evaluations += 1
        self.stats.transitions += len(transitions)
        for transition in transitions:
            log.info(
                "alert %s %s (value %s)%s", transition.fingerprint, transition.state.value,
                transition.value, " [silenced]" if transition.silenced else "",
            )  # fmt: skip
            await self._publish(transition)
            if transition.notify:
                self.notifier.notify(transition)
        return transitions

    async def _values(
        self, connection: psycopg.AsyncConnection[Any], compiled: _Compiled, now: datetime
    ) -> dict[LabelKey, float | None] | None:
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(compiled.statement, compiled.context.values(now))
                rows = await cursor.fetchall()
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            self.stats.failed_rules += 1
            log.error("alert rule %s: query failed: %s", compiled.rule.name, one_line(exc))
            return None
        width = len(compiled.rule.group_by)
        return {
            tuple(str(v) for v in row[:width]): (None if row[width] is None else float(row[width]))
            for row in rows
        }

    async def _silences(
        self, connection: psycopg.AsyncConnection[Any], now: datetime
    ) -> list[Silence]:
        async with connection.cursor() as cursor:
            await cursor.execute(active_silences_statement(self.namespace), {"now": now})
            return [silence_from_row(row) for row in await cursor.fetchall()]

    async def _record(self, connection: psycopg.AsyncConnection[Any]) -> list[Transition]:
        """Write every transition not yet recorded (this evaluation's and any left over by a
        failed one); returns them, to be published and notified now."""
        recorded, self._unrecorded = self._unrecorded, []
        if not recorded:
            return recorded
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.executemany(self._insert, [_event_row(t) for t in recorded])
        except psycopg.Error:
            self._unrecorded = recorded + self._unrecorded
            raise
        return recorded

    async def _restore(self, connection: psycopg.AsyncConnection[Any]) -> None:
        async with connection.cursor() as cursor:
            await cursor.execute(current_states_statement(self.namespace))
            rows = await cursor.fetchall()
        for rule_name, labels, state, value, started_at, fired_at, notified in rows:
            book = self.books.get(rule_name)
            if book is None or set(labels) != set(book.rule.group_by):
                continue  # the rule was removed or regrouped: its old alerts are not resumed
            key = tuple(str(labels[label]) for label in book.rule.group_by)
            book.restore(
                key,
                Tracker(
                    state=AlertState(state), started_at=started_at, fired_at=fired_at,
                    notified=notified, value=value,
                ),
            )  # fmt: skip
        if rows:
            log.info("alerting: took over %d pending or firing alerts", len(rows))

    async def _publish(self, transition: Transition) -> None:
        if self.publisher is None:
            return
        body = json_body(transition, self.namespace) | {"notified": transition.notify}
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
