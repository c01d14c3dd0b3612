"""The committed Grafana alert-rule provisioning file is what the packaged rules export to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from govpulse.alerts.grafana import export, grafana_rule
from govpulse.alerts.rules import COMPARE, load_rules, parse_rules

COMMITTED = Path(__file__).parents[2] / "dashboards/provisioning/alerting/govpulse-rules.yaml"


def test_committed_grafana_rules_match_the_packaged_rules() -> None:
    rules = load_rules()
    generated = export(rules, "live", "govpulse-timescaledb", "govpulse")
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "run `govpulse alerts export-grafana` and commit the result"
    )
    document = yaml.safe_load(generated)
    assert document["apiVersion"] == 1
    [group] = document["groups"]
    assert {r["title"] for r in group["rules"]} == {r.name for r in rules}
    assert all(r["condition"] and r["data"] for r in group["rules"])


_COMPARISON = re.compile(r"\(\$A (>=|<=|>|<) ([-+0-9.e]+)\)")


def level(expression: str, value: float) -> float:
    """Grafana's math expression as exported: comparisons of $A (1 or 0) added, or doubled."""
    terms = [COMPARE[op](value, float(limit)) for op, limit in _COMPARISON.findall(expression)]
    term = r"\(\$A [<>]=? [-+0-9.e]+\)"
    assert re.fullmatch(rf"{term}( \* 2| \+ {term})", expression), expression
    return 2.0 * terms[0] if expression.endswith("* 2") else float(sum(terms))


@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
@pytest.mark.parametrize("recovery", [None, "healthy side"])
def test_the_exported_condition_is_exact_for_every_operator(op: str, recovery: str | None) -> None:
    threshold = 10.0
    recovery_threshold = None
    if recovery:
        recovery_threshold = 8.0 if op in (">", ">=") else 12.0
    (rule,) = parse_rules(
        {
            "rules": [
                {
                    "name": "r", "measure": "agency_silence_minutes", "group_by": ["agency"],
                    "op": op, "threshold": threshold, "recovery_threshold": recovery_threshold,
                    "summary": "{agency}",
                }
            ]
        }
    )  # fmt: skip
    exported = grafana_rule(rule, "live", "uid")
    [_, math, threshold_step] = exported["data"]
    assert exported["condition"] == "C" and threshold_step["model"]["expression"] == "B"
    [condition] = threshold_step["model"]["conditions"]
    assert condition["evaluator"] == {"type": "gt", "params": [1.5]}
    for value in (7.0, 8.0, 9.0, 9.999, 10.0, 10.001, 11.0, 12.0, 13.0):
        lvl = level(math["model"]["expression"], value)
        assert (lvl > 1.5) == rule.breaches(value), (op, value)
        if recovery_threshold is None:
            assert "unloadEvaluator" not in condition
        else:
            assert condition["unloadEvaluator"] == {"type": "lt", "params": [0.5]}
            assert (lvl < 0.5) == rule.recovered(value), (op, value)
