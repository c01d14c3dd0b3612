"""`govpulse alerts test`: promtool-style rule unit tests, and the ones shipped for every
packaged rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from govpulse.alerts.rules import default_rules_path, load_rules
from streams.alerting.ruletest import RuleTestError, expand_values, run_file

PACKAGED_TESTS = default_rules_path().with_name("rules.test.yaml")


def test_every_packaged_rule_has_tests_and_they_pass() -> None:
    document = yaml.safe_load(PACKAGED_TESTS.read_text(encoding="utf-8"))
    tested = {check["rule"] for test in document["tests"] for check in test["alert_rule_test"]}
    assert tested == {rule.name for rule in load_rules()}
    results = run_file(PACKAGED_TESTS)
    assert [r.failures for r in results] == [[] for _ in results]
    assert len(results) == len(document["tests"])


def test_the_packaged_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    rules = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    for rule in rules["rules"]:
        if rule["name"] == "agency_silent":
            rule["op"] = ">"  # 15 minutes exactly would no longer fire
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    tests = yaml.safe_load(PACKAGED_TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = ["rules.yaml"]
    file = tmp_path / "rules.test.yaml"
    file.write_text(yaml.safe_dump(tests), encoding="utf-8")
    failed = [r for r in run_file(file) if not r.passed]
    assert [r.name for r in failed] == [
        "an agency silent for exactly 15 minutes fires (>=), and resolves a minute after it "
        "reports again"
    ]
    assert failed[0].failures == [
        "at 0:14:00, rule agency_silent: expected firing [{'agency': '01'}], got []"
    ]
    result = CliRunner().invoke(app, ["alerts", "test", str(file)])
    assert result.exit_code == 1
    assert "6 passed, 1 failed" in result.output and "FAILED an agency silent" in result.output
    ok = CliRunner().invoke(app, ["alerts", "test", str(PACKAGED_TESTS)])
    assert ok.exit_code == 0 and "7 passed, 0 failed" in ok.output


def test_a_wrong_summary_and_unknown_rules_are_reported(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "tests": [
                    {
                        "name": "summary",
                        "input_series": [
                            {"rule": "critical_incident",
                             "labels": {"agency": "48", "category": "ddos"}, "values": "2"}
                        ],
                        "alert_rule_test": [
                            {"eval_time": "0m", "rule": "critical_incident", "exp_alerts": [
                                {"labels": {"agency": "48", "category": "ddos"},
                                 "summary": "something else"}
                            ]}
                        ],
                    },
                    {"name": "unknown", "alert_rule_test": [{"eval_time": 0, "rule": "nope"}]},
                ]
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    summary, unknown = run_file(file)
    assert summary.failures == [
        "at 0:00:00, rule critical_incident {'agency': '48', 'category': 'ddos'}: expected "
        "summary 'something else', got 'Critical ddos incident detected at 48 (2 in 30 minutes)'"
    ]
    assert unknown.failures[0].startswith("unknown rules ['nope']; the file has: ")


def test_a_malformed_test_file_names_the_place(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("tests:\n  - name: x\n    alert_rule_test: [{eval_time: soon, rule: r}]\n")
    with pytest.raises(RuleTestError, match=r"t.yaml: tests.0.alert_rule_test.0.eval_time"):
        run_file(file)
    result = CliRunner().invoke(app, ["alerts", "test", str(file)])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 2 3", [1, 2, 3]),
        ("1x3", [1, 1, 1, 1]),
        ("1+2x2 _ 0.5-0.25x2", [1, 3, 5, None, 0.5, 0.25, 0.0]),
        ("_x2 7", [None, None, 7]),
        ("1e3", [1000]),
    ],
)
def test_series_notation(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


def test_bad_series_notation_is_refused() -> None:
    with pytest.raises(ValueError, match="value 'abc' is not"):
        expand_values("1 abc")
