"""What each event contributes to its 1-minute bucket: pure functions, no I/O.

For every feed, `contribution(event)` returns the row key dimensions (after bucket and agency),
the increments of the table's measures in `govpulse.db.tables` order, and one histogram value
(milliseconds) per histogram column, or None where the event adds nothing to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    Event,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)
from govpulse.events.document import DocumentAction
from govpulse.events.dossier import DossierStatus
from govpulse.events.payment import PaymentStatus


@dataclass(frozen=True, slots=True)
class Contribution:
    dimensions: tuple[str | int, ...]
    measures: tuple[int, ...]
    histogram_values: tuple[float | None, ...] = ()


def _dossier(event: Event) -> Contribution:
    event = cast(DossierEvent, event)  # a model or its fast struct
    submitted = event.status is DossierStatus.SUBMITTED
    completed = event.status is DossierStatus.COMPLETED
    on_time = completed and event.occurred_at <= event.due_at
    processing_s = int((event.occurred_at - event.submitted_at).total_seconds()) if completed else 0
    return Contribution(
        (event.channel.value, event.mode.value, event.status.value, event.field),
        (
            1,
            int(on_time),
            int(completed and not on_time),
            int(submitted and event.digitised),
            int(submitted and event.data_reused),
            event.fee_vnd if submitted else 0,
            processing_s,
        ),
    )


def _payment(event: Event) -> Contribution:
    event = cast(PaymentEvent, event)  # a model or its fast struct
    paid = event.status is PaymentStatus.SUCCESS
    return Contribution(
        (event.payment_channel, event.status.value), (1, event.amount_vnd if paid else 0)
    )


def _ndxp(event: Event) -> Contribution:
    event = cast(NdxpTransaction, event)  # a model or its fast struct
    return Contribution(
        (event.service, event.provider, event.result.value),
        (1, event.latency_ms, event.bytes),
        (float(event.latency_ms),),
    )


def _incident(event: Event) -> Contribution:
    event = cast(IncidentEvent, event)  # a model or its fast struct
    elapsed = int((event.occurred_at - event.detected_at).total_seconds())
    return Contribution(
        (
            event.category.value,
            event.severity.value,
            event.stage.value,
            event.protection_level or 0,
        ),
        (1, elapsed),
    )


def _document(event: Event) -> Contribution:
    event = cast(DocumentEvent, event)  # a model or its fast struct
    if event.action is DocumentAction.SENT:
        return Contribution(
            (event.action.value, event.urgency.value, ""),
            (1, len(event.receivers), int(not event.signature_valid), 0),
            (None,),
        )
    delivery_ms = int((event.occurred_at - event.sent_at).total_seconds() * 1000)
    status = event.delivery_status.value if event.delivery_status else ""
    return Contribution(
        (event.action.value, event.urgency.value, status),
        (1, 0, int(not event.signature_valid), delivery_ms),
        (float(delivery_ms),),
    )


CONTRIBUTIONS: dict[str, Callable[[Event], Contribution]] = {
    "portal.dossiers": _dossier,
    "portal.payments": _payment,
    "ndxp.transactions": _ndxp,
    "cyber.incidents": _incident,
    "vdxp.documents": _document,
}
assert set(CONTRIBUTIONS) == set(AGGREGATE_TABLES)
