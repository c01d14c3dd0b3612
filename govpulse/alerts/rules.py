"""Alert rules: the YAML file operators edit, validated into frozen models.

A rule names a measure (`govpulse.alerts.measures`), the labels it groups by, a comparison and
threshold, how long a breach must last before it fires (`for`), the recovery threshold that ends
it (hysteresis: a value hovering at the threshold cannot flap), how long it keeps firing after
recovery (`keep_firing_for`), a severity, a summary template and a runbook URL.

`load_rules(path)` raises `RulesError` whose message names the file, the rule and the field.
Pure: reading one file, no database.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from govpulse.alerts import templates
from govpulse.alerts.measures import MEASURES, measure

RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
LABEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, rule and field."""


def parse_duration(value: Any) -> timedelta:
    """`0`, seconds as a number, or `1h30m`, `5m`, `90s`."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 5m, 1h, 30s")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.match(text)
        if text and text != "0" and match and any(match.groupdict().values()):
            parts = {k: int(v or 0) for k, v in match.groupdict().items()}
            return timedelta(hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        if text == "0":
            return timedelta(0)
    raise ValueError(f"invalid duration {value!r}; use seconds or text like 5m, 1h, 30s")


def format_duration(value: timedelta) -> str:
    """The shortest `1h30m` / `5m` / `30s` form (Grafana and Prometheus read it)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


Op = Literal[">", ">=", "<", "<="]
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Rule(BaseModel):
    """One alert rule; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    measure: str
    params: dict[str, Any] = Field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    op: Op = ">"
    threshold: float
    # Once firing, the alert stays active until the value is on the far side of this; None:
    # the threshold itself (no hysteresis).
    recovery_threshold: float | None = None
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    severity: Severity = Severity.WARNING
    # Before `summary`, whose validator needs them.
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str
    runbook_url: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter")
        return value

    @field_validator("measure")
    @classmethod
    def _measure(cls, value: str) -> str:
        measure(value)  # raises with the list of valid names
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "measure" not in info.data:
            return value  # the measure's own error says what is wrong
        return MEASURES[info.data["measure"]].validate_params(value).model_dump(mode="json")

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if "measure" not in info.data:
            return value
        spec = MEASURES[info.data["measure"]]
        unknown = [label for label in value if label not in spec.labels]
        if unknown:
            raise ValueError(
                f"{unknown} not offered by measure {spec.name}; valid: {', '.join(spec.labels)}"
            )
        if spec.fixed_labels and tuple(value) != spec.labels:
            raise ValueError(f"measure {spec.name} groups by {list(spec.labels)} only")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not LABEL_NAME.match(key):
                raise ValueError(f"label name {key!r} must be lowercase letters, digits and '_'")
        return value

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str, info: ValidationInfo) -> str:
        group_by = info.data.get("group_by", ())
        labels = info.data.get("labels", {})
        samples: dict[str, Any] = {label: "x" for label in (*group_by, *labels)}
        samples |= {"value": 0.5, "threshold": 0.5, "rule": "rule", "severity": "warning"}
        templates.check(value, samples)
        return value

    @field_validator("runbook_url")
    @classmethod
    def _runbook(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.recovery_threshold is not None:
            breached = COMPARE[self.op](self.recovery_threshold, self.threshold)
            if breached:
                raise ValueError(
                    f"recovery_threshold: {self.recovery_threshold} would itself breach "
                    f"{self.op} {self.threshold}; it must lie on the healthy side"
                )
        return self

    def breaches(self, value: float) -> bool:
        return COMPARE[self.op](value, self.threshold)

    def recovered(self, value: float) -> bool:
        """True when a firing alert's value is healthy again (beyond the recovery threshold)."""
        if self.recovery_threshold is None:
            return not self.breaches(value)
        return not COMPARE[self.op](value, self.recovery_threshold) and value != (
            self.recovery_threshold
        )

    def render_summary(self, value: float, labels: dict[str, str]) -> str:
        fields: dict[str, Any] = {**self.labels, **labels}
        fields |= {"value": value, "threshold": self.threshold, "rule": self.name}
        fields["severity"] = self.severity.value
        try:
            return templates.render(self.summary, fields)
        except (ValueError, KeyError, IndexError, TypeError):  # checked on load; belt and braces
            return f"{self.name}: {value:g} {self.op} {self.threshold:g}"


class RulesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique(self) -> RulesFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return self


def default_rules_path() -> Path:
    """The packaged rules of domain.md (`govpulse/alerts/rules.yaml`)."""
    return Path(str(resources.files("govpulse.alerts").joinpath("rules.yaml")))


def load_rules(path: Path | str | None = None) -> tuple[Rule, ...]:
    """The validated rules of a file (default: the packaged one)."""
    file = Path(path) if path else default_rules_path()
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_rules(document, str(file))


def parse_rules(document: Any, source: str = "rules") -> tuple[Rule, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulesError(f"{source}: expected a mapping with a `rules:` list")
    try:
        return RulesFile.model_validate(document).rules
    except ValidationError as exc:
        raise RulesError(_describe(exc, document["rules"], source)) from None


def _describe(exc: ValidationError, rules: list[Any], source: str) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = "file"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            raw = rules[index] if index < len(rules) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            where = f"rule {name!r}" if name else f"rule #{index + 1}"
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or "(rule)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}, field {field}: {message}")
    return "\n".join(lines)
