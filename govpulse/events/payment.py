"""`portal.payments`: online payment transactions for dossiers on the Portal."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from govpulse.events.base import EntityId, Event, Identifier


class PaymentStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


class PaymentEvent(Event):
    """One payment attempt; `dossier_id` refers to a dossier of `portal.dossiers`."""

    schema_version: Literal[1] = 1
    payment_id: EntityId
    dossier_id: EntityId
    procedure: Identifier
    amount_vnd: int = Field(gt=0, le=10_000_000_000)
    payment_channel: Identifier
    status: PaymentStatus
    failure_reason: Identifier | None = None

    @model_validator(mode="after")
    def _reason_only_on_failure(self) -> PaymentEvent:
        if (self.status is PaymentStatus.FAILED) != (self.failure_reason is not None):
            raise ValueError("failure_reason is required on a failed payment and only there")
        return self
