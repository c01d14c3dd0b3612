"""Backtests: the transitions a rules file would have made over a namespace's stored data.

`backtest()` evaluates fresh state machines at every minute boundary from `start` to `end` with
the worker's own queries (`streams.alerting.ruleset`), exactly as the worker would have in event
time, and writes nothing: to tune a threshold before deploying it. `summarise()` (pure) counts per
rule how often it fired and for how long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from govpulse.alerts.rules import Rule
from govpulse.settings import Settings
from streams.alerting.eventtime import MINUTE, minute_floor
from streams.alerting.ruleset import RuleSet
from streams.alerting.state import AlertState, Transition

MAX_STEPS = 31 * 24 * 60  # a month of minutes


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    fired: int  # alerts that started firing
    total: timedelta  # time spent firing, summed over the rule's alerts
    longest: timedelta
    still_firing: int  # at the end of the range


@dataclass(frozen=True)
class BacktestResult:
    start: datetime
    end: datetime
    evaluations: int
    transitions: list[Transition]
    summaries: list[RuleSummary]


async def backtest(
    settings: Settings, rules: Sequence[Rule], start: datetime, end: datetime
) -> BacktestResult:
    """Every minute boundary in [start, end]; raises ValueError for a range that is empty or
    longer than a month."""
    first = minute_floor(start) + (MINUTE if minute_floor(start) < start else timedelta(0))
    if end < first:
        raise ValueError("--to must be at least a minute boundary after --from")
    steps = int((end - first) / MINUTE) + 1
    if steps > MAX_STEPS:
        raise ValueError(f"at most {MAX_STEPS} minutes ({MAX_STEPS // 1440} days) at a time")
    ruleset = RuleSet(settings.namespace, rules)
    transitions: list[Transition] = []
    async with await psycopg.AsyncConnection.connect(
        settings.db.conninfo(), autocommit=True
    ) as connection:
        for step in range(steps):
            transitions += await ruleset.step(connection, first + step * MINUTE)
    last = first + (steps - 1) * MINUTE
    return BacktestResult(first, last, steps, transitions, summarise(rules, transitions, last))


def summarise(
    rules: Sequence[Rule], transitions: Sequence[Transition], end: datetime
) -> list[RuleSummary]:
    """Per rule, in the rules' order; an alert still firing at `end` counts until `end`."""
    durations: dict[str, list[timedelta]] = {rule.name: [] for rule in rules}
    open_alerts: dict[str, tuple[str, datetime]] = {}  # fingerprint -> (rule, fired at)
    for t in transitions:
        if t.state is AlertState.FIRING and not t.renotify:
            open_alerts[t.fingerprint] = (t.rule.name, t.at)
        elif t.state is AlertState.RESOLVED and t.fingerprint in open_alerts:
            name, fired = open_alerts.pop(t.fingerprint)
            durations[name].append(t.at - fired)
    still: dict[str, int] = {rule.name: 0 for rule in rules}
    for name, fired in open_alerts.values():
        durations[name].append(end - fired)
        still[name] += 1
    summaries = []
    for rule in rules:
        spans = durations[rule.name]
        total, longest = sum(spans, timedelta(0)), max(spans, default=timedelta(0))
        summaries.append(RuleSummary(rule.name, len(spans), total, longest, still[rule.name]))
    return summaries
