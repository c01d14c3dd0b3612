"""The committed Grafana alert-rule provisioning file is what the packaged rules export to."""

from __future__ import annotations

from pathlib import Path

import yaml

from govpulse.alerts.grafana import export
from govpulse.alerts.rules import load_rules

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
