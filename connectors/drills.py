"""Drills: incidents an operator injects into the running simulated feeds, to rehearse.

A drill is a scenario, a window and a target (agency, service, provider). The window is in event
time, which for the live, paced feeds a drill is meant for is the wall clock. The connector
runner passes every outgoing element through `DrillBook.apply` with its event time, which
rewrites the matching events (an NDXP provider answers with timeouts, an agency's events vanish)
or adds events (an incident storm). Rewritten events are validated with their model, so a drill
never produces an invalid event; anything that does not fit is left as it was (counted).

Each packaged alert rule has a drill that fires it (see `SCENARIOS` and the README).

Pure: drills arrive from the control topic (`connectors.control`); no I/O here.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.faults import Outgoing
from govpulse.recording import event_time_ms
from govpulse.topics import feed

MAX_DURATION = timedelta(hours=6)


class Drill(BaseModel):
    """One drill command, as sent on the control topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    scenario: str
    starts_at: datetime
    ends_at: datetime
    agency: str | None = None
    service: str | None = None
    provider: str | None = None
    intensity: float = Field(default=1.0, gt=0, le=1)  # share of matching events affected

    @field_validator("scenario")
    @classmethod
    def _known(cls, value: str) -> str:
        scenario(value)
        return value

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            (self.agency is None or event.get("agency") == self.agency)
            and (self.service is None or event.get("service") == self.service)
            and (self.provider is None or event.get("provider") == self.provider)
        )

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, value: bytes) -> Drill:
        return cls.model_validate_json(value)


# A rewrite returns the event's new fields, or None to drop the event.
Rewrite = Callable[[dict[str, Any], random.Random], dict[str, Any] | None]
# An addition builds one new event at a time from the drill, a sequence number and a template
# (the last matching event of the added feed seen, when there was one).
Addition = Callable[
    [Drill, datetime, int, dict[str, Any] | None, random.Random], dict[str, Any] | None
]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    feeds: tuple[str, ...]  # the feeds whose events it rewrites
    rewrite: Rewrite | None = None
    fires: tuple[str, ...] = ()  # packaged rules it is meant to fire
    needs: tuple[str, ...] = ()  # target options it requires
    add: Addition | None = None  # events it adds to `feeds[0]`, `add_per_minute` of event time
    add_per_minute: float = 0.0


def _timeouts(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    timeout = rng.random() < 0.6
    latency = 30_000 if timeout else event["latency_ms"]
    return event | {"result": "timeout" if timeout else "error", "latency_ms": latency}


def _errors(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return event | {"result": "error"}


def _slow(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    slower = event["latency_ms"] * 4 + rng.randint(2_500, 6_000)
    return event | {"latency_ms": min(600_000, slower)}


def _payment_fails(event: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    if event.get("status") != "success":
        return event
    return event | {"status": "failed", "failure_reason": "gateway_unavailable"}


def _delivery_fails(event: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    if event.get("action") != "receipt" or event.get("delivery_status") is None:
        return event
    return event | {"delivery_status": "failed"}


def _overdue(event: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    if event.get("status") != "completed" or event["submitted_at"] >= event["occurred_at"]:
        return event
    return event | {"due_at": event["submitted_at"]}  # completed after its due time


def _drop(event: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    return None


def _critical_incident(
    drill: Drill, at: datetime, n: int, template: dict[str, Any] | None, rng: random.Random
) -> dict[str, Any] | None:
    from govpulse.reference.agencies import provinces
    from govpulse.reference.systems import state_systems

    agency = drill.agency or rng.choice([province.code for province in provinces()])
    systems = [system for system in state_systems() if system.agency == agency]
    if not systems:
        return None  # an agency without state systems in the reference data
    system = rng.choice(systems)  # the workers accept only a known system of the agency
    return {
        "event_id": str(uuid.uuid4()), "occurred_at": at.isoformat(), "agency": agency,
        "incident_id": f"DRILL-{drill.id}-{n}", "stage": "detected",
        "category": rng.choice(("ddos", "ransomware", "intrusion")), "severity": "critical",
        "target_system": system.code, "protection_level": system.protection_level,
        "detected_at": at.isoformat(),
    }  # fmt: skip


def _overdue_completion(
    drill: Drill, at: datetime, n: int, template: dict[str, Any] | None, rng: random.Random
) -> dict[str, Any] | None:
    """A backlog dossier of the agency completed now, five days after its due time (one like
    the agency's last dossier: procedure, channel and mode stay consistent)."""
    if template is None:
        return None
    return template | {
        "event_id": str(uuid.uuid4()), "dossier_id": f"DRILL-{drill.id}-{n}",
        "status": "completed", "occurred_at": at.isoformat(),
        "submitted_at": (at - timedelta(days=20)).isoformat(),
        "due_at": (at - timedelta(days=5)).isoformat(),
    }  # fmt: skip


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "ndxp_provider_outage", "an NDXP provider answers with timeouts and errors",
            ("ndxp.transactions",), _timeouts, ("ndxp_error_rate_high",),
        ),
        Scenario(
            "error_burst", "NDXP calls fail with errors (share: --intensity)",
            ("ndxp.transactions",), _errors, ("ndxp_error_rate_high",),
        ),
        Scenario(
            "latency_spike", "NDXP calls take 2.5 to 6 s longer",
            ("ndxp.transactions",), _slow, ("ndxp_p95_latency_high",),
        ),
        Scenario(
            "payment_gateway_failure", "online payments fail (gateway unavailable)",
            ("portal.payments",), _payment_fails,
        ),
        Scenario(
            "axis_delivery_failures", "deliveries on the Document Axis fail",
            ("vdxp.documents",), _delivery_fails, ("document_delivery_failures_high",),
        ),
        Scenario(
            "overdue_completions",
            "an agency's dossiers are completed late, and a backlog of overdue ones too",
            ("portal.dossiers",), _overdue, ("province_on_time_rate_low",), ("agency",),
            add=_overdue_completion, add_per_minute=3.0,
        ),
        Scenario(
            "incident_storm", "critical incidents at many times the usual rate",
            ("cyber.incidents",), None, ("critical_incident", "incident_surge"),
            add=_critical_incident, add_per_minute=2.0,
        ),
        Scenario(
            "silent_province", "an agency's systems stop reporting, every feed",
            ("portal.dossiers", "portal.payments", "ndxp.transactions", "cyber.incidents",
             "vdxp.documents"),
            _drop, ("agency_silent",), ("agency",),
        ),
    )
}  # fmt: skip


class UnknownScenarioError(ValueError):
    pass


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown drill {name!r}; valid drills: {', '.join(sorted(SCENARIOS))}"
        ) from None


def new_drill(
    name: str,
    now: datetime,
    duration: timedelta,
    *,
    agency: str | None = None,
    service: str | None = None,
    provider: str | None = None,
    intensity: float = 1.0,
) -> Drill:
    """A drill starting now; raises ValueError naming what is wrong."""
    spec = scenario(name)
    if not timedelta(0) < duration <= MAX_DURATION:
        raise ValueError(f"a drill lasts more than 0 and at most {MAX_DURATION}")
    given = {"agency": agency, "service": service, "provider": provider}
    missing = [f"--{option}" for option in spec.needs if given[option] is None]
    if missing:
        raise ValueError(f"drill {name} needs {', '.join(missing)}")
    return Drill(
        scenario=name, starts_at=now, ends_at=now + duration, agency=agency, service=service,
        provider=provider, intensity=intensity,
    )  # fmt: skip


@dataclass
class DrillStats:
    rewritten: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    added: Counter[str] = field(default_factory=Counter)
    unfit: Counter[str] = field(default_factory=Counter)  # rewrites the model refused


class DrillBook:
    """The drills known to a runner. `add` from the control listener's thread; `apply` from the
    runner's: thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._drills: dict[str, Drill] = {}
        self._due: dict[str, datetime] = {}  # the next added event of each drill
        self._templates: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.rng = random.Random(f"drills:{seed}")
        self.stats = DrillStats()

    def add(self, drill: Drill) -> None:
        with self._lock:
            self._drills[drill.id] = drill

    def active(self, now: datetime) -> list[Drill]:
        with self._lock:
            return [d for d in self._drills.values() if d.active(now)]

    def apply(self, out: Outgoing, now: datetime) -> Iterator[Outgoing]:
        """`out` as the active drills have it (rewritten, dropped, or followed by added events)."""
        drills = self.active(now)
        if not drills:
            yield out
            return
        current: Outgoing | None = out
        for drill in drills:
            spec = SCENARIOS[drill.scenario]
            rewrites = spec.rewrite is not None and current is not None and current.valid
            if rewrites and current is not None and current.feed in spec.feeds:
                current = self._rewrite(current, drill, spec)
            if spec.add is not None:
                yield from self._add(drill, spec, out)
        if current is not None:
            yield current

    def _rewrite(self, out: Outgoing, drill: Drill, spec: Scenario) -> Outgoing | None:
        event = orjson.loads(out.value)
        if not drill.matches(event) or self.rng.random() >= drill.intensity:
            return out
        assert spec.rewrite is not None
        changed = spec.rewrite(event, self.rng)
        if changed is None:
            self.stats.dropped[drill.scenario] += 1
            return None
        if changed == event:
            return out
        try:
            model = feed(out.feed).model.model_validate(changed)
        except ValidationError:
            self.stats.unfit[drill.scenario] += 1
            return out
        self.stats.rewritten[drill.scenario] += 1
        return replace(out, value=model.model_dump_json().encode())

    def _add(self, drill: Drill, spec: Scenario, out: Outgoing) -> Iterator[Outgoing]:
        """New events of `spec.feeds[0]` at `add_per_minute` a minute of event time, at `out`'s
        time (after a gap in the traffic, from then on: a gap is not made up in a burst)."""
        assert spec.add is not None
        added_feed = spec.feeds[0]
        if out.feed == added_feed and out.valid:
            event = orjson.loads(out.value)
            if drill.matches(event):
                self._templates[drill.id] = event
        at = datetime.fromtimestamp(out.timestamp_ms / 1000, drill.starts_at.tzinfo)
        step = timedelta(minutes=1) / spec.add_per_minute
        due = self._due.get(drill.id)
        if due is None or not at - timedelta(minutes=1) <= due <= at + step:
            due = at  # the first time, after a gap, or a stream that started over

        while due <= at:
            n = self.stats.added[drill.scenario]
            fields = spec.add(drill, at, n, self._templates.get(drill.id), self.rng)
            if fields is None:
                break  # nothing to model it on yet
            try:
                model = feed(added_feed).model.model_validate(fields)
            except ValidationError:
                self.stats.unfit[drill.scenario] += 1
                break
            self.stats.added[drill.scenario] += 1
            yield Outgoing(
                added_feed, str(fields["agency"]), event_time_ms(model),
                model.model_dump_json().encode(),
            )  # fmt: skip
            due += step
        self._due[drill.id] = due
