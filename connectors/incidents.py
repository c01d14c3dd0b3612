"""Cyber-security incidents on state information systems, detected to resolved.

Calibrated to the monthly counts of seed 002 (204 in October 2024, 250 in September 2024,
1,010 in October 2023, 4,483 from January to October 2024). Each incident emits four events that
share its id: detected, triaged, contained, resolved.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors import calibration as cal
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.lifecycle import StepQueue
from connectors.sampling import WeightedChoice, lognormal_around, new_uuid
from govpulse.events.incident import IncidentCategory, IncidentEvent, IncidentStage, Severity
from govpulse.reference.catalogues import incident_categories
from govpulse.reference.systems import StateSystem, state_systems

INCIDENTS = "cyber.incidents"
# Median minutes from one stage to the next, by severity: critical incidents move fastest.
TRIAGE_MEDIAN_MIN = {
    Severity.LOW: 120,
    Severity.MEDIUM: 60,
    Severity.HIGH: 25,
    Severity.CRITICAL: 10,
}
CONTAIN_MEDIAN_MIN = {
    Severity.LOW: 600,
    Severity.MEDIUM: 300,
    Severity.HIGH: 150,
    Severity.CRITICAL: 60,
}
RESOLVE_MEDIAN_MIN = {
    Severity.LOW: 1440,
    Severity.MEDIUM: 1440,
    Severity.HIGH: 2880,
    Severity.CRITICAL: 4320,
}


@dataclass(slots=True)
class Incident:
    incident_id: str
    category: IncidentCategory
    severity: Severity
    system: StateSystem
    detected_at: datetime
    stages: list[tuple[datetime, IncidentStage]]


class IncidentSimulator(FeedSimulator):
    feeds = (INCIDENTS,)

    def __init__(self, seed: int, scale: float) -> None:
        super().__init__(seed, scale)
        self.schedule = cal.schedules().incidents
        categories = incident_categories()
        self.categories = WeightedChoice(
            [IncidentCategory(c.code) for c in categories], [c.weight for c in categories]
        )
        self.severities = WeightedChoice.from_mapping(
            {Severity(k): v for k, v in cal.SEVERITY_WEIGHTS.items()}
        )
        self.systems = state_systems()

    def begin(self, when: datetime, queue: StepQueue[object]) -> None:
        rng = self.rng
        severity = self.severities.draw(rng)
        triaged = when + _minutes(rng, TRIAGE_MEDIAN_MIN[severity])
        contained = triaged + _minutes(rng, CONTAIN_MEDIAN_MIN[severity])
        resolved = contained + _minutes(rng, RESOLVE_MEDIAN_MIN[severity])
        incident = Incident(
            incident_id=f"INC-{new_uuid(rng).hex[:12].upper()}",
            category=self.categories.draw(rng),
            severity=severity,
            system=rng.choice(self.systems),
            detected_at=when,
            stages=[
                (when, IncidentStage.DETECTED),
                (triaged, IncidentStage.TRIAGED),
                (contained, IncidentStage.CONTAINED),
                (resolved, IncidentStage.RESOLVED),
            ],
        )
        queue.push(when, incident)

    def step(self, when: datetime, item: object, queue: StepQueue[object]) -> Iterable[FeedEvent]:
        assert isinstance(item, Incident)
        at, stage = item.stages.pop(0)
        if item.stages:
            queue.push(item.stages[0][0], item)
        yield (
            INCIDENTS,
            IncidentEvent(
                event_id=new_uuid(self.rng),
                occurred_at=at,
                agency=item.system.agency,
                incident_id=item.incident_id,
                stage=stage,
                category=item.category,
                severity=item.severity,
                target_system=item.system.code,
                protection_level=item.system.protection_level,
                detected_at=item.detected_at,
            ),
        )


def _minutes(rng: random.Random, median: float) -> timedelta:
    return timedelta(minutes=max(1.0, lognormal_around(rng, median, 0.7)))
