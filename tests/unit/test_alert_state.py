"""The alert state machine with a fake clock: for, hysteresis, keep_firing_for, absence,
silences and one notification per transition."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from govpulse.alerts.rules import Rule, parse_rules
from govpulse.alerts.silences import Silence, silenced
from streams.alerting.state import AlertState, RuleBook, Transition

T0 = datetime(2024, 10, 1, 1, 0, tzinfo=UTC)
KEY = ("VNEID",)


def rule(**overrides: Any) -> Rule:
    base: dict[str, Any] = {
        "name": "ndxp_errors",
        "measure": "ndxp_error_rate",
        "group_by": ["service"],
        "op": ">",
        "threshold": 0.05,
        "summary": "{service}: {value:.1%}",
        "for": "5m",
    }
    return parse_rules({"rules": [base | overrides]})[0]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def tick(self, seconds: float = 10) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def run(
    book: RuleBook,
    clock: Clock,
    values: Sequence[float | None],
    every_s: float = 10,
    is_silenced: Callable[[dict[str, str]], bool] = lambda _: False,
) -> list[Transition]:
    out: list[Transition] = []
    for value in values:
        current: dict[tuple[str, ...], float | None] = {} if value is None else {KEY: value}
        out += book.evaluate(current, clock.tick(every_s), is_silenced)
    return out


def states(transitions: list[Transition]) -> list[str]:
    return [t.state.value for t in transitions]


def test_a_breach_fires_only_after_it_lasted_for() -> None:
    book, clock = RuleBook(rule()), Clock()
    out = run(book, clock, [0.10] * 31)  # 10-s evaluations
    assert states(out) == ["pending", "firing"]
    pending, firing = out
    assert firing.at - pending.at == timedelta(minutes=5)
    assert firing.notify and not pending.notify
    assert firing.labels == {"service": "VNEID"} and firing.summary == "VNEID: 10.0%"


def test_a_breach_shorter_than_for_never_fires() -> None:
    book, clock = RuleBook(rule()), Clock()
    out = run(book, clock, [0.10] * 20 + [0.01] + [0.10] * 20)
    assert states(out) == ["pending", "inactive", "pending"]
    assert not any(t.notify for t in out)


def test_for_zero_fires_at_once() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    assert states(run(book, clock, [0.2])) == ["firing"]


def test_hysteresis_a_value_hovering_at_the_threshold_does_not_flap() -> None:
    book, clock = RuleBook(rule(recovery_threshold=0.04, **{"for": 0})), Clock()
    hovering = [0.051, 0.049, 0.052, 0.048, 0.05, 0.051, 0.041] * 10
    out = run(book, clock, hovering)
    assert states(out) == ["firing"]
    out = run(book, clock, [0.039])
    assert states(out) == ["resolved"] and out[0].notify


def test_without_hysteresis_the_same_values_flap() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    out = run(book, clock, [0.051, 0.049, 0.052, 0.048])
    assert states(out) == ["firing", "resolved", "firing", "resolved"]


def test_keep_firing_for_holds_the_alert_after_recovery() -> None:
    book, clock = RuleBook(rule(keep_firing_for="2m", **{"for": 0})), Clock()
    assert states(run(book, clock, [0.2])) == ["firing"]
    # Healthy for 1 min 50 s, then a relapse: still the same alert, no new notification.
    assert run(book, clock, [0.0] * 12 + [0.2]) == []
    out = run(book, clock, [0.0] * 13)
    assert states(out) == ["resolved"]
    assert out[0].resolved_at is not None and out[0].fired_at is not None
    assert out[0].resolved_at - out[0].at == timedelta(0)


def test_missing_data_resolves_a_firing_alert() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    assert states(run(book, clock, [0.3, None])) == ["firing", "resolved"]
    assert book.trackers == {}


def test_each_group_is_independent_and_notified_once() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    out: list[Transition] = []
    for _ in range(5):
        out += book.evaluate({("A",): 0.5, ("B",): 0.01}, clock.tick())
    assert [(t.labels["service"], t.state.value) for t in out] == [("A", "firing")]


def test_absence_fires_after_the_silence_and_resolves_when_the_agency_reports() -> None:
    absent = parse_rules(
        {
            "rules": [
                {
                    "name": "agency_silent",
                    "measure": "agency_silence_minutes",
                    "group_by": ["agency"],
                    "op": ">=",
                    "threshold": 15,
                    "recovery_threshold": 2,
                    "summary": "{agency} silent for {value:.0f} min",
                }
            ]
        }
    )[0]
    book, clock = RuleBook(absent), Clock()
    out: list[Transition] = []
    for minute in range(20):  # the measure's value grows a minute per minute of silence
        out += book.evaluate({("01",): float(minute)}, clock.tick(60))
    assert states(out) == ["firing"] and out[0].value == 15.0
    assert out[0].summary == "01 silent for 15 min"
    assert states(book.evaluate({("01",): 0.0}, clock.tick(60))) == ["resolved"]


def test_a_silenced_alert_is_recorded_not_notified_and_notified_when_the_silence_ends() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    silence = Silence(1, {"service": "VNEID"}, T0, T0 + timedelta(minutes=1))
    other = Silence(2, {"service": "OTHER"}, T0, T0 + timedelta(hours=1))

    def is_silenced(labels: dict[str, str]) -> bool:
        return silenced([silence, other], labels, clock.now)

    out = run(book, clock, [0.2] * 5, is_silenced=is_silenced)
    assert states(out) == ["firing"] and out[0].silenced and not out[0].notify
    out = run(book, clock, [0.2] * 5, is_silenced=is_silenced)  # the silence ended at T0+60s
    assert states(out) == ["firing"] and out[0].notify and out[0].renotify
    out = run(book, clock, [0.2] * 5 + [0.0], is_silenced=is_silenced)
    assert states(out) == ["resolved"] and out[0].notify


def test_a_resolution_of_an_alert_never_notified_is_not_notified() -> None:
    book, clock = RuleBook(rule(**{"for": 0})), Clock()
    out = run(book, clock, [0.2, 0.0], is_silenced=lambda _: True)
    assert states(out) == ["firing", "resolved"]
    assert [t.notify for t in out] == [False, False]


def test_silence_matching_uses_rule_severity_and_group_labels() -> None:
    s = Silence(1, {"alertname": "ndxp_errors", "service": "VNEID"}, T0, T0 + timedelta(hours=2))
    assert s.matches({"alertname": "ndxp_errors", "service": "VNEID", "severity": "warning"})
    assert not s.matches({"alertname": "ndxp_errors", "service": "X"})
    assert not s.active(T0 + timedelta(hours=2)) and s.active(T0)
    transition = run(RuleBook(rule(**{"for": 0})), Clock(), [0.2])[0]
    assert transition.all_labels == {
        "alertname": "ndxp_errors",
        "severity": "warning",
        "service": "VNEID",
    }
    assert transition.fingerprint == "ndxp_errors{service=VNEID}"


def test_pending_state_survives_in_order() -> None:
    book, clock = RuleBook(rule()), Clock()
    out = run(book, clock, [0.1] * 31 + [0.0])
    assert [t.state for t in out] == [AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED]
