"""The rules file: the packaged rules load; errors name the rule and the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from govpulse.alerts.measures import MEASURES
from govpulse.alerts.rules import RulesError, load_rules, parse_duration, parse_rules
from govpulse.alerts.silences import parse_matchers


def good(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "errors",
        "measure": "ndxp_error_rate",
        "group_by": ["service"],
        "threshold": 0.05,
        "summary": "{service} {value}",
    }
    return base | overrides


def error_of(*rules: dict[str, Any]) -> str:
    with pytest.raises(RulesError) as caught:
        parse_rules({"rules": list(rules)}, "rules.yaml")
    return str(caught.value)


def test_the_packaged_rules_cover_domain_md() -> None:
    rules = {rule.name: rule for rule in load_rules()}
    measures = {rule.measure for rule in rules.values()}
    assert measures == set(MEASURES)
    errors = rules["ndxp_error_rate_high"]
    assert errors.threshold == 0.05 and errors.for_ == timedelta(minutes=5)
    assert rules["critical_incident"].for_ == timedelta(0)
    assert rules["agency_silent"].threshold == 15
    assert rules["incident_surge"].threshold == 3
    assert rules["province_on_time_rate_low"].op == "<"
    assert all(rule.runbook_url.startswith("https://") for rule in rules.values())


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (good(measure="nope"), "rule 'errors', field measure: unknown measure 'nope'"),
        (good(threshold="high"), "rule 'errors', field threshold:"),
        (good(group_by=["district"]), "rule 'errors', field group_by: ['district'] not offered"),
        (good(params={"window_minutes": 0}), "rule 'errors', field params: window_minutes:"),
        (good(params={"windw": 5}), "rule 'errors', field params: windw: Extra inputs"),
        (good(**{"for": "5 minutes"}), "rule 'errors', field for: invalid duration"),
        (good(summary="{agency}"), "rule 'errors', field summary: unknown field {agency}"),
        (good(recovery_threshold=0.06), "recovery_threshold: 0.06 would itself breach"),
        (good(op="=="), "rule 'errors', field op:"),
        (good(severity="urgent"), "rule 'errors', field severity:"),
        (good(colour="red"), "rule 'errors', field colour: Extra inputs"),
        (good(runbook_url="wiki/x"), "rule 'errors', field runbook_url: must be an http(s) URL"),
        ({"measure": "ndxp_error_rate"}, "rule #2, field name: Field required"),
        (
            good(measure="agency_silence_minutes", group_by=[]),
            "field group_by: measure agency_silence_minutes groups by ['agency'] only",
        ),
        (
            good(measure="agency_silence_minutes", group_by=["agency"], params={"feeds": ["x"]}),
            "field params: feeds:",
        ),
    ],
)
def test_errors_name_the_rule_and_the_field(rule: dict[str, Any], expected: str) -> None:
    message = error_of(good(name="first"), rule)
    assert message.startswith("rules.yaml: ")
    assert expected in message


def test_duplicate_names_are_refused() -> None:
    assert "rule name 'errors' is used twice" in error_of(good(), good())


def test_a_file_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules.yaml: not valid YAML"):
        load_rules(path)
    path.write_text(yaml.safe_dump({"rule": []}), encoding="utf-8")
    with pytest.raises(RulesError, match=r"expected a mapping with a `rules:` list"):
        load_rules(path)


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(45) == timedelta(seconds=45)
    assert parse_duration("0") == timedelta(0)
    for bad in ("", "5 m", "-1", -3, True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_matchers() -> None:
    assert parse_matchers(["agency=01", "alertname=agency_silent"]) == {
        "agency": "01",
        "alertname": "agency_silent",
    }
    for bad in ([], ["agency"], ["Agency=01"], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            parse_matchers(bad)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("{value.__class__.__mro__}", "field {value.__class__.__mro__}: only plain field names"),
        ("{service[0]}", "field {service[0]}: only plain field names"),
        ("{0}", "field {0}: only plain field names"),
        ("{}", "a positional field {}: only plain field names"),
        ("{value:>300000000}", "field {value}: width 300000000 is above 60"),
        ("{value:.100f}", "field {value}: precision 100 is above 12"),
        ("{value:{threshold}}", "field {value}: format '{threshold}' is not a plain format"),
        ("{value!r}", "field {value}: conversions (!r) are not allowed"),
        ("{service:.1%}", "field {service}: format '.1%' does not fit its value"),
        ("{value:d}", "field {value}: format 'd' does not fit its value"),
        ("{value", "field summary: not a valid template"),
        ("x" * 1001, "field summary: longer than 1000 characters"),
    ],
)
def test_unsafe_or_unfit_summaries_are_refused_naming_rule_and_field(
    summary: str, expected: str
) -> None:
    message = error_of(good(summary=summary))
    assert message.startswith("rules.yaml: rule 'errors', field summary: ")
    assert expected in message


def test_bounded_format_specs_render() -> None:
    (rule,) = parse_rules(
        {"rules": [good(summary="{service:>8}|{value:.1%}|{threshold:+.2f}|{rule}|{severity:^9}")]}
    )
    assert rule.render_summary(0.1234, {"service": "VNeID"}) == (
        "   VNeID|12.3%|+0.05|errors| warning "
    )


def test_alerts_rules_command_rejects_unsafe_templates(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    file = tmp_path / "rules.yaml"
    file.write_text(
        yaml.safe_dump({"rules": [good(summary="{value.__class__.__mro__}"),
                                  good(name="wide", summary="{value:>300000000}")]}),
        encoding="utf-8",
    )  # fmt: skip
    result = CliRunner().invoke(app, ["alerts", "rules", "--file", str(file)])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "rule 'errors', field summary: field {value.__class__.__mro__}: only plain" in output
    assert "rule 'wide', field summary: field {value}: width 300000000 is above 60" in output
