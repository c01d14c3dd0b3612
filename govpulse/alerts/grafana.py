"""The same rules as Grafana alert rules, in Grafana's file-provisioning format.

One group per rules file (`apiVersion: 1`, `groups: [{orgId, name, folder, interval, rules}]`).
Each rule queries the PostgreSQL datasource with the measure's SQL (parameters inlined as SQL
literals, `now()` as the evaluation time; a table result whose text columns become labels).

The comparison is exact for every operator: Grafana 11.5's threshold evaluators have only strict
`gt`/`lt` (`gte`/`lte` came later), so a math expression (B) compares the value exactly as the
worker does and yields a level: 2 breached, 1 still within the recovery threshold, 0 healthy. The
threshold (C) fires above 1.5 and, when the rule has a recovery threshold, stops firing below 0.5
(`unloadEvaluator`, Grafana 10.4+): the worker's hysteresis. `keep_firing_for` is the rule's
field of that name. Stable output:
rules in file order, keys in a fixed order, so the file can be committed and compared.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import yaml
from psycopg import sql

from govpulse.alerts.measures import MEASURES
from govpulse.alerts.rules import Rule, format_duration

# A firing alert stays active while its value is on this side of the recovery threshold
# (`Rule.recovered` is the exact complement).
STILL_ACTIVE_OPS = {">": ">=", ">=": ">=", "<": "<=", "<=": "<="}


def _query_text(rule: Rule, namespace: str) -> str:
    statement, _ = MEASURES[rule.measure].query(namespace, rule.group_by, rule.params, True)
    return _as_string(statement)


def _as_string(statement: sql.Composed) -> str:
    # Literals of str, int, float and lists quote the same without a connection.
    return statement.as_string(None)


def _lookback_s(rule: Rule) -> int:
    params = rule.params
    minutes = max(
        int(params.get(name, 0))
        for name in ("window_minutes", "lookback_minutes", "baseline_hours", "days")
    )
    return max(600, minutes * 60)


def _level_expression(rule: Rule) -> str:
    """Grafana math: 2 when the rule is breached, 1 while still active, 0 when healthy."""
    breach = f"($A {rule.op} {rule.threshold!r})"
    if rule.recovery_threshold is None:
        return f"{breach} * 2"
    active = f"($A {STILL_ACTIVE_OPS[rule.op]} {rule.recovery_threshold!r})"
    return f"{breach} + {active}"


def grafana_rule(rule: Rule, namespace: str, datasource_uid: str) -> dict[str, Any]:
    condition: dict[str, Any] = {"evaluator": {"type": "gt", "params": [1.5]}}
    if rule.recovery_threshold is not None:
        condition["unloadEvaluator"] = {"type": "lt", "params": [0.5]}
    annotations = {"summary": _grafana_summary(rule)}
    if rule.runbook_url:
        annotations["runbook_url"] = rule.runbook_url
    result: dict[str, Any] = {
        "uid": f"gp-{namespace}-{rule.name}"[:40],
        "title": rule.name,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": _lookback_s(rule), "to": 0},
                "datasourceUid": datasource_uid,
                "model": {
                    "refId": "A",
                    "format": "table",
                    "rawQuery": True,
                    "editorMode": "code",
                    "rawSql": _query_text(rule, namespace),
                },
            },
            {
                "refId": "B",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "math", "expression": _level_expression(rule)},
            },
            {
                "refId": "C",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [condition],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": format_duration(rule.for_),
        "annotations": annotations,
        "labels": {"severity": rule.severity.value, **rule.labels},
        "isPaused": False,
    }
    if rule.keep_firing_for.total_seconds() > 0:
        result["keep_firing_for"] = format_duration(rule.keep_firing_for)
    return result


def _grafana_summary(rule: Rule) -> str:
    """The summary template in Grafana's template language ({{ $labels.x }}, {{ $values.A }}).

    Format specs ({value:.1%}) have no Grafana equivalent: the raw value is shown.
    """
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(rule.summary):
        parts.append(literal)
        if field is None:
            continue
        if field == "value":
            parts.append("{{ $values.A.Value }}")
        elif field == "threshold":
            parts.append(f"{rule.threshold:g}")
        elif field == "rule":
            parts.append(rule.name)
        elif field == "severity":
            parts.append(rule.severity.value)
        elif field in rule.labels:
            parts.append(rule.labels[field])
        else:
            parts.append(f"{{{{ $labels.{field} }}}}")
    return "".join(parts)


def export(
    rules: Sequence[Rule],
    namespace: str,
    datasource_uid: str,
    folder: str = "govpulse",
    interval: str = "1m",
    org_id: int = 1,
) -> str:
    document = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": org_id,
                "name": f"govpulse-{namespace}",
                "folder": folder,
                "interval": interval,
                "rules": [grafana_rule(rule, namespace, datasource_uid) for rule in rules],
            }
        ],
    }
    header = (
        "# Generated by `govpulse alerts export-grafana` from the govpulse alert rules; "
        "do not edit.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
