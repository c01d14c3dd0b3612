"""The National Document Interconnection Axis: documents sent and each of their deliveries.

Calibrated to October 2024 (seed 002): 302,765 documents sent and 775,889 received, so about 2.56
receivers per document. A document is one `sent` event from its sender and one `receipt` event
from each receiver, always after the send.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors import calibration as cal
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.lifecycle import StepQueue
from connectors.sampling import WeightedChoice, lognormal_around, new_uuid
from govpulse.events.document import DeliveryStatus, DocumentAction, DocumentEvent, Urgency
from govpulse.reference.agencies import AgencyLevel, all_agencies

DOCUMENTS = "vdxp.documents"
DOC_TYPES = {
    "cong_van": 0.45, "thong_bao": 0.14, "quyet_dinh": 0.12, "bao_cao": 0.1, "giay_moi": 0.08,
    "ke_hoach": 0.05, "to_trinh": 0.04, "chi_thi": 0.02,
}  # fmt: skip
URGENCY = {Urgency.NORMAL: 0.85, Urgency.URGENT: 0.12, Urgency.EXPRESS: 0.03}
# Median delivery delay in seconds by urgency: express documents are pushed ahead.
DELIVERY_MEDIAN_S = {Urgency.NORMAL: 120.0, Urgency.URGENT: 45.0, Urgency.EXPRESS: 20.0}
DELIVERY_FAILURE_AFTER_S = 900.0
MAX_RECEIVERS = 40


@dataclass(slots=True)
class Document:
    document_id: str
    sender: str
    receivers: tuple[str, ...]
    doc_type: str
    urgency: Urgency
    signature_valid: bool
    sent_at: datetime


@dataclass(slots=True)
class Delivery:
    document: Document
    receiver: str
    status: DeliveryStatus


class DocumentSimulator(FeedSimulator):
    feeds = (DOCUMENTS,)

    def __init__(self, seed: int, scale: float) -> None:
        super().__init__(seed, scale)
        self.schedule = cal.schedules().documents
        # State bodies exchange documents; state enterprises are not on the Axis.
        members = {
            code: (4.0 if a.level is AgencyLevel.MINISTRY else 1.0)
            for code, a in all_agencies().items()
            if a.level is not AgencyLevel.OTHER or a.kind == "state_body"
        }
        self.members = WeightedChoice.from_mapping(members)
        self.doc_types = WeightedChoice.from_mapping(DOC_TYPES)
        self.urgency = WeightedChoice.from_mapping(URGENCY)

    def begin(self, when: datetime, queue: StepQueue[object]) -> None:
        rng = self.rng
        sender = self.members.draw(rng)
        wanted = min(MAX_RECEIVERS, 1 + _poisson(rng, cal.RECEIVERS_PER_DOCUMENT - 1))
        receivers: list[str] = []
        while len(receivers) < wanted:
            candidate = self.members.draw(rng)
            if candidate != sender and candidate not in receivers:
                receivers.append(candidate)
        document = Document(
            document_id=f"VB-{sender}-{new_uuid(rng).hex[:16].upper()}",
            sender=sender,
            receivers=tuple(receivers),
            doc_type=self.doc_types.draw(rng),
            urgency=self.urgency.draw(rng),
            signature_valid=rng.random() >= cal.INVALID_SIGNATURE_RATE,
            sent_at=when,
        )
        queue.push(when, document)

    def step(self, when: datetime, item: object, queue: StepQueue[object]) -> Iterable[FeedEvent]:
        rng = self.rng
        if isinstance(item, Document):
            for receiver in item.receivers:
                failed = rng.random() < cal.DELIVERY_FAILURE_RATE
                if failed:
                    delay = DELIVERY_FAILURE_AFTER_S
                    status = DeliveryStatus.FAILED
                else:
                    delay = lognormal_around(rng, DELIVERY_MEDIAN_S[item.urgency], 0.9)
                    acknowledged = rng.random() < cal.ACKNOWLEDGED_RATE
                    status = (
                        DeliveryStatus.ACKNOWLEDGED if acknowledged else DeliveryStatus.DELIVERED
                    )
                queue.push(when + timedelta(seconds=delay), Delivery(item, receiver, status))
            yield DOCUMENTS, self._event(when, item, DocumentAction.SENT)
        else:
            assert isinstance(item, Delivery)
            yield DOCUMENTS, self._event(when, item.document, DocumentAction.RECEIPT, item)

    def _event(
        self,
        when: datetime,
        document: Document,
        action: DocumentAction,
        delivery: Delivery | None = None,
    ) -> DocumentEvent:
        return DocumentEvent(
            event_id=new_uuid(self.rng),
            occurred_at=when,
            agency=delivery.receiver if delivery else document.sender,
            document_id=document.document_id,
            action=action,
            sender=document.sender,
            receivers=() if delivery else document.receivers,
            receiver=delivery.receiver if delivery else None,
            delivery_status=delivery.status if delivery else None,
            doc_type=document.doc_type,
            urgency=document.urgency,
            signature_valid=document.signature_valid,
            sent_at=document.sent_at,
        )


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means here (about 1.6).
    limit = math.exp(-mean)
    k, product = 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
