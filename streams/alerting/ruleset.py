"""The rules of a namespace compiled once, with their state machines: what the worker's evaluator
and a backtest run at each evaluation time.

`step(connection, as_of)` queries every rule's measure at `as_of` (a minute boundary: the values
cover the complete minutes before it) and advances the rule's state machine. A rule whose query
fails is skipped alone (logged, counted), its state untouched; a lost connection raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from govpulse.alerts.measures import MEASURES, QueryContext
from govpulse.alerts.rules import Rule
from govpulse.db.connection import one_line
from streams.alerting.state import LabelKey, RuleBook, Transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    statement: sql.Composed
    context: QueryContext


class RuleSet:
    def __init__(self, namespace: str, rules: Sequence[Rule]) -> None:
        self.compiled = [_compile(namespace, rule) for rule in rules]
        self.books = {rule.name: RuleBook(rule) for rule in rules}
        self.failed_rules = 0

    @property
    def rules(self) -> list[Rule]:
        return [compiled.rule for compiled in self.compiled]

    async def step(
        self,
        connection: psycopg.AsyncConnection[Any],
        as_of: datetime,
        is_silenced: Callable[[dict[str, str]], bool] = lambda _: False,
    ) -> list[Transition]:
        transitions: list[Transition] = []
        for compiled in self.compiled:
            values = await self._values(connection, compiled, as_of)
            if values is not None:
                book = self.books[compiled.rule.name]
                transitions += book.evaluate(values, as_of, is_silenced)
        return transitions

    async def _values(
        self, connection: psycopg.AsyncConnection[Any], compiled: CompiledRule, as_of: datetime
    ) -> dict[LabelKey, float | None] | None:
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(compiled.statement, compiled.context.values(as_of))
                rows = await cursor.fetchall()
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            self.failed_rules += 1
            log.error("alert rule %s: query failed: %s", compiled.rule.name, one_line(exc))
            return None
        width = len(compiled.rule.group_by)
        return {
            tuple(str(v) for v in row[:width]): (None if row[width] is None else float(row[width]))
            for row in rows
        }


def _compile(namespace: str, rule: Rule) -> CompiledRule:
    statement, context = MEASURES[rule.measure].query(namespace, rule.group_by, rule.params)
    return CompiledRule(rule, statement, context)
