"""`vdxp.documents`: official e-documents on the National Document Interconnection Axis."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from govpulse.events.base import AgencyCode, EntityId, Event, EventTime, Identifier


class DocumentAction(StrEnum):
    SENT = "sent"  # emitted by the sender, once per document
    RECEIPT = "receipt"  # emitted by each receiver, once per delivery


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"  # delivered and confirmed by the receiver's system
    FAILED = "failed"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # "khẩn"
    EXPRESS = "express"  # "hỏa tốc"


class DocumentEvent(Event):
    """A document sent (`agency` = sender) or one of its deliveries (`agency` = receiver)."""

    schema_version: Literal[1] = 1
    document_id: EntityId
    action: DocumentAction
    sender: AgencyCode
    receivers: tuple[AgencyCode, ...] = Field(default=(), max_length=500)
    receiver: AgencyCode | None = None
    delivery_status: DeliveryStatus | None = None
    doc_type: Identifier
    urgency: Urgency
    signature_valid: bool
    sent_at: EventTime

    @model_validator(mode="after")
    def _shape_matches_action(self) -> DocumentEvent:
        if self.action is DocumentAction.SENT:
            if not self.receivers:
                raise ValueError("a 'sent' event needs at least one receiver")
            if self.receiver is not None or self.delivery_status is not None:
                raise ValueError("a 'sent' event carries receivers, not receiver/delivery_status")
            if self.agency != self.sender:
                raise ValueError("a 'sent' event is emitted by its sender")
            if self.occurred_at != self.sent_at:
                raise ValueError("a 'sent' event must occur at sent_at")
        else:
            if self.receiver is None or self.delivery_status is None:
                raise ValueError("a 'receipt' event needs receiver and delivery_status")
            if self.receivers:
                raise ValueError("a 'receipt' event names one receiver, not receivers")
            if self.agency != self.receiver:
                raise ValueError("a 'receipt' event is emitted by its receiver")
            if self.occurred_at < self.sent_at:
                raise ValueError("a receipt cannot occur before the document was sent")
        return self
