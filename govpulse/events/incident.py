"""`cyber.incidents`: cyber-security incidents on state information systems and their lifecycle."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from govpulse.events.base import EntityId, Event, EventTime, Identifier


class IncidentStage(StrEnum):
    DETECTED = "detected"
    TRIAGED = "triaged"
    CONTAINED = "contained"
    RESOLVED = "resolved"


INCIDENT_STAGE_ORDER: tuple[IncidentStage, ...] = tuple(IncidentStage)


class IncidentCategory(StrEnum):
    MALWARE = "malware"
    PHISHING = "phishing"
    DDOS = "ddos"
    DEFACEMENT = "defacement"
    INTRUSION = "intrusion"
    RANSOMWARE = "ransomware"
    DATA_LEAK = "data_leak"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentEvent(Event):
    """One lifecycle step of one incident; every step repeats the incident's description."""

    schema_version: Literal[1] = 1
    incident_id: EntityId
    stage: IncidentStage
    category: IncidentCategory
    severity: Severity
    target_system: Identifier
    # None: the system has not been classified by protection level (Decree 85/2016).
    protection_level: int | None = Field(default=None, ge=1, le=5)
    detected_at: EventTime

    @model_validator(mode="after")
    def _after_detection(self) -> IncidentEvent:
        if self.occurred_at < self.detected_at:
            raise ValueError("occurred_at is before detected_at")
        if self.stage is IncidentStage.DETECTED and self.occurred_at != self.detected_at:
            raise ValueError("a 'detected' event must occur at detected_at")
        return self
