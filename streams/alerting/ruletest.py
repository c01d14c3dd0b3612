"""Rule unit tests in the manner of Prometheus' `promtool test rules`: input series of measure
values, and the alerts expected to be firing at given times. `govpulse alerts test FILE` runs them.

A rule's measure is SQL over the minute tables (covered by the integration tests); what an
operator tunes, and what these tests pin down, is what the rule does with the values: threshold,
`for`, recovery threshold, `keep_firing_for`, the groups and the summary. The tests feed the
rule's state machine (`streams.alerting.state`, the one the worker runs) the series, one sample
per `interval`, and compare the firing alerts at each `eval_time`.

File format (YAML):

    rule_files: [rules.yaml]        # relative to this file; omitted: the packaged rules
    tests:
      - name: errors above 5% for 5 minutes fire, and resolve below 4%
        interval: 1m                # one sample per minute (default)
        input_series:
          - rule: ndxp_error_rate_high
            labels: {service: VNEID}
            values: "0.01x2 0.08x6 0.03x3"
        alert_rule_test:
          - eval_time: 7m
            rule: ndxp_error_rate_high
            exp_alerts:
              - labels: {service: VNEID}
                summary: "NDXP service VNEID: 8.0% of calls failed ..."   # optional

Values, as promtool writes them: `a` one sample; `axn` a repeated n+1 times; `a+bxn` / `a-bxn`
n+1 samples from a in steps of b; `_` no value (the group is absent); `_xn` n absent samples.
`exp_alerts` lists the alerts firing at `eval_time` (an empty list: none); each `labels` is the
rule's group labels.

Pure: reads the test file and the rules files, no database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govpulse.alerts.rules import Duration, Rule, RulesError, load_rules
from streams.alerting.state import AlertState, RuleBook

# Samples are placed on an arbitrary fixed day: only differences of time matter.
EPOCH = datetime(2024, 10, 1, tzinfo=UTC)
_TOKEN = re.compile(
    r"^(?:(?P<blank>_)(?:x(?P<blank_times>\d+))?|"
    r"(?P<start>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?:(?P<sign>[-+])(?P<step>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))?(?:x(?P<times>\d+))?)$"
)
_MAX_SAMPLES = 100_000


class RuleTestError(ValueError):
    """A test file that cannot be run; the message names the file and the test."""


def expand_values(text: str) -> list[float | None]:
    """Promtool's series notation; None for `_` (no value)."""
    samples: list[float | None] = []
    for token in str(text).split():
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"value {token!r} is not a, axn, a+bxn, a-bxn, _ or _xn")
        if match["blank"]:
            samples += [None] * int(match["blank_times"] or 1)
        else:
            start, times = float(match["start"]), int(match["times"] or 0)
            step = float(match["step"] or 0) * (-1 if match["sign"] == "-" else 1)
            samples += [start + step * i for i in range(times + 1)]
        if len(samples) > _MAX_SAMPLES:
            raise ValueError(f"more than {_MAX_SAMPLES} samples")
    return samples


class Series(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: str
    labels: dict[str, str] = Field(default_factory=dict)
    values: list[float | None]

    @field_validator("values", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> list[float | None]:
        return expand_values(value)


class ExpectedAlert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str | None = None


class AlertCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    eval_time: Duration
    rule: str
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)


class RuleTest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    interval: Duration = timedelta(minutes=1)
    input_series: list[Series] = Field(default_factory=list)
    alert_rule_test: list[AlertCheck]

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value


class RuleTestFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rule_files: list[str] = Field(default_factory=list)
    tests: list[RuleTest]


@dataclass
class TestResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_test_file(path: Path) -> tuple[RuleTestFile, dict[str, Rule]]:
    """The parsed tests and the rules they test, by name; errors raise `RuleTestError`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        tests = RuleTestFile.model_validate(document)
    except (OSError, yaml.YAMLError) as exc:
        raise RuleTestError(f"{path}: {' '.join(str(exc).split())}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuleTestError(f"{path}: {where}: {first['msg']}") from None
    rules: dict[str, Rule] = {}
    try:
        files: list[Path | None] = [path.parent / file for file in tests.rule_files] or [None]
        for file in files:
            for rule in load_rules(file):
                rules[rule.name] = rule
    except RulesError as exc:
        raise RuleTestError(str(exc)) from None
    return tests, rules


def run_test(test: RuleTest, rules: Mapping[str, Rule]) -> TestResult:
    """Feed the series to the rules' state machines; compare at every eval_time."""
    result = TestResult(test.name)
    named = {s.rule for s in test.input_series} | {c.rule for c in test.alert_rule_test}
    missing = sorted(name for name in named if name not in rules)
    if missing:
        result.failures.append(f"unknown rules {missing}; the file has: {', '.join(rules)}")
        return result
    books = {name: RuleBook(rules[name]) for name in {s.rule for s in test.input_series}}
    books |= {c.rule: books.get(c.rule) or RuleBook(rules[c.rule]) for c in test.alert_rule_test}
    for series in test.input_series:
        wrong = set(series.labels) ^ set(rules[series.rule].group_by)
        if wrong:
            result.failures.append(
                f"series of {series.rule}: labels {sorted(series.labels)} must be the rule's "
                f"group_by {list(rules[series.rule].group_by)}"
            )
    if result.failures:
        return result
    checks = sorted(test.alert_rule_test, key=lambda c: c.eval_time)
    last = max((c.eval_time for c in checks), default=timedelta(0))
    steps = int(last / test.interval)
    if steps > _MAX_SAMPLES:
        result.failures.append(f"eval_time {last} is more than {_MAX_SAMPLES} intervals away")
        return result
    pending = list(checks)
    for step in range(steps + 1):
        now = EPOCH + step * test.interval
        for name, book in books.items():
            values: dict[tuple[str, ...], float | None] = {}
            for series in test.input_series:
                if series.rule != name or step >= len(series.values):
                    continue
                value = series.values[step]
                if value is not None:
                    key = tuple(series.labels[label] for label in book.rule.group_by)
                    values[key] = value
            book.evaluate(values, now)
        while pending and pending[0].eval_time <= step * test.interval:
            check = pending.pop(0)
            result.failures += _compare(check, books[check.rule])
    return result


def _compare(check: AlertCheck, book: RuleBook) -> list[str]:
    firing = {
        key: tracker for key, tracker in book.trackers.items() if tracker.state is AlertState.FIRING
    }
    got = {tuple(sorted(book.labels(key).items())): key for key in firing}
    wanted = {tuple(sorted(alert.labels.items())): alert for alert in check.exp_alerts}
    failures = []
    at = f"at {check.eval_time}, rule {check.rule}"
    if set(got) != set(wanted):
        failures.append(
            f"{at}: expected firing {[dict(k) for k in sorted(wanted)]}, "
            f"got {[dict(k) for k in sorted(got)]}"
        )
        return failures
    for labels, alert in wanted.items():
        tracker = firing[got[labels]]
        summary = book.rule.render_summary(
            tracker.value if tracker.value is not None else 0.0, dict(labels)
        )
        if alert.summary is not None and alert.summary != summary:
            failures.append(
                f"{at} {dict(labels)}: expected summary {alert.summary!r}, got {summary!r}"
            )
    return failures


def run_file(path: Path) -> list[TestResult]:
    tests, rules = load_test_file(path)
    return [run_test(test, rules) for test in tests.tests]
