"""The alert state machine: per rule and group, inactive → pending → firing → resolved.

Pure: the evaluator feeds it each evaluation's values with the evaluation time and gets back
the transitions to record and notify. Guarantees:
- a breach must hold on every evaluation for the rule's `for` before the alert fires (`for: 0`
  fires at once); a pending alert whose value stops breaching goes back to inactive, unnotified;
- a firing alert resolves only once its value is past the recovery threshold (or gone) and has
  stayed so for `keep_firing_for`; a value hovering at the threshold therefore does not flap;
- each transition is reported once; a firing alert is notified once (after its silence ends if it
  was silenced) and its resolution only if its firing was notified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from govpulse.alerts.rules import Rule

LabelKey = tuple[str, ...]  # the group's label values, in the rule's group_by order


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass
class Tracker:
    """One group's alert between evaluations."""

    state: AlertState = AlertState.INACTIVE
    started_at: datetime | None = None  # when the breach began (pending, or firing at once)
    fired_at: datetime | None = None
    recovered_since: datetime | None = None
    notified: bool = False  # its firing was notified (so its resolution is too)
    value: float | None = None


@dataclass(frozen=True)
class Transition:
    rule: Rule
    labels: dict[str, str]  # group labels only
    state: AlertState  # the new state: pending, firing, resolved, or inactive (pending ended)
    value: float | None
    at: datetime
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    notify: bool
    silenced: bool = False
    renotify: bool = False  # firing again notified after a silence ended, not a new state

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.labels)

    @property
    def all_labels(self) -> dict[str, str]:
        return alert_labels(self.rule, self.labels)

    @property
    def summary(self) -> str:
        return self.rule.render_summary(self.value if self.value is not None else 0.0, self.labels)


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """`rule{k=v,...}`: stable identity of one alert, readable in logs and the database."""
    inner = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return f"{rule}{{{inner}}}"


def alert_labels(rule: Rule, labels: Mapping[str, str]) -> dict[str, str]:
    """What silences match on: rule name, severity, the rule's labels and the group's."""
    return {"alertname": rule.name, "severity": rule.severity.value, **rule.labels, **labels}


@dataclass
class RuleBook:
    """The trackers of one rule; `evaluate` is called once per evaluation with all values."""

    rule: Rule
    trackers: dict[LabelKey, Tracker] = field(default_factory=dict)

    def labels(self, key: LabelKey) -> dict[str, str]:
        return dict(zip(self.rule.group_by, key, strict=True))

    def restore(self, key: LabelKey, tracker: Tracker) -> None:
        """Take over an alert recorded before a restart, so it is not notified twice."""
        self.trackers[key] = tracker

    def evaluate(
        self,
        values: Mapping[LabelKey, float | None],
        now: datetime,
        is_silenced: Callable[[dict[str, str]], bool] = lambda _: False,
    ) -> list[Transition]:
        """Advance every group; groups absent from `values` count as having no value."""
        transitions: list[Transition] = []
        for key in sorted(set(values) | set(self.trackers)):
            tracker = self.trackers.setdefault(key, Tracker())
            value = values.get(key)
            tracker.value = value
            labels = self.labels(key)
            changed = self._step(tracker, value, now)
            silent = tracker.state is AlertState.FIRING and is_silenced(
                alert_labels(self.rule, labels)
            )
            if changed is not None:
                transitions.append(self._transition(tracker, changed, labels, now, silent))
            elif tracker.state is AlertState.FIRING and not tracker.notified and not silent:
                tracker.notified = True
                transitions.append(
                    self._transition(tracker, AlertState.FIRING, labels, now, False, True)
                )
            if tracker.state is AlertState.INACTIVE:
                del self.trackers[key]
        return transitions

    def _transition(
        self,
        tracker: Tracker,
        state: AlertState,
        labels: dict[str, str],
        now: datetime,
        silent: bool,
        renotify: bool = False,
    ) -> Transition:
        notify = False
        if state is AlertState.FIRING and not renotify:
            notify = tracker.notified = not silent
        elif state is AlertState.FIRING:
            notify = True
        elif state is AlertState.RESOLVED:
            notify = tracker.notified
        return Transition(
            rule=self.rule, labels=labels, state=state, value=tracker.value, at=now,
            started_at=tracker.started_at or now, fired_at=tracker.fired_at,
            resolved_at=now if state is AlertState.RESOLVED else None,
            notify=notify, silenced=silent, renotify=renotify,
        )  # fmt: skip

    def _step(self, tracker: Tracker, value: float | None, now: datetime) -> AlertState | None:
        rule = self.rule
        breach = value is not None and rule.breaches(value)
        if tracker.state is AlertState.INACTIVE:
            if not breach:
                return None
            tracker.started_at = now
            if rule.for_.total_seconds() <= 0:
                return self._fire(tracker, now)
            tracker.state = AlertState.PENDING
            return AlertState.PENDING
        if tracker.state is AlertState.PENDING:
            if not breach:
                tracker.state = AlertState.INACTIVE
                return AlertState.INACTIVE
            assert tracker.started_at is not None
            if now - tracker.started_at >= rule.for_:
                return self._fire(tracker, now)
            return None
        # Firing: only a value past the recovery threshold (or none at all) counts as healthy.
        healthy = value is None or rule.recovered(value)
        if not healthy:
            tracker.recovered_since = None
            return None
        if tracker.recovered_since is None:
            tracker.recovered_since = now
        if now - tracker.recovered_since >= rule.keep_firing_for:
            tracker.state = AlertState.INACTIVE
            return AlertState.RESOLVED
        return None

    @staticmethod
    def _fire(tracker: Tracker, now: datetime) -> AlertState:
        tracker.state = AlertState.FIRING
        tracker.fired_at = now
        tracker.recovered_since = None
        return AlertState.FIRING
