"""Event models accept what the feeds send and reject bad input with messages naming the field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)

VN = timezone(timedelta(hours=7))
T0 = datetime(2024, 10, 1, 9, 0, tzinfo=VN)


def dossier(**changes: Any) -> dict[str, Any]:
    base = {
        "event_id": str(uuid.uuid4()), "occurred_at": T0.isoformat(), "agency": "01",
        "dossier_id": "HS-01-1", "procedure": "birth_registration", "field": "civil_status",
        "status": "submitted", "channel": "portal", "mode": "full_online",
        "submitted_at": T0.isoformat(), "due_at": (T0 + timedelta(days=3)).isoformat(),
        "fee_vnd": 0, "digitised": True, "data_reused": False,
    }  # fmt: skip
    return base | changes


def test_a_valid_dossier_event_round_trips_through_json() -> None:
    event = DossierEvent.model_validate(dossier())
    again = DossierEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.schema_version == 1


def test_models_are_frozen() -> None:
    event = DossierEvent.model_validate(dossier())
    with pytest.raises(ValidationError):
        event.fee_vnd = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"occurred_at": "2024-10-01T09:00:00"}, "occurred_at", "timezone"),
        ({"fee_vnd": -1}, "fee_vnd", "greater than or equal to 0"),
        ({"status": "lost"}, "status", "'submitted'"),
        ({"unexpected": 1}, "unexpected", "Extra inputs are not permitted"),
        ({"agency": "hanoi"}, "agency", "pattern"),
        ({"schema_version": 2}, "schema_version", "1"),
    ],
)
def test_dossier_rejects_bad_fields_naming_them(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        DossierEvent.model_validate(dossier(**changes))
    error = caught.value.errors()[0]
    assert field in [str(part) for part in error["loc"]]
    assert message in error["msg"]


def test_dossier_rejects_missing_fields() -> None:
    payload = dossier()
    del payload["agency"]
    with pytest.raises(ValidationError, match="agency"):
        DossierEvent.model_validate(payload)


def test_dossier_rejects_inconsistent_times_and_channels() -> None:
    with pytest.raises(ValidationError, match="due_at is before submitted_at"):
        DossierEvent.model_validate(dossier(due_at=(T0 - timedelta(days=1)).isoformat()))
    with pytest.raises(ValidationError, match="cannot carry a full-process online dossier"):
        DossierEvent.model_validate(dossier(channel="one_stop"))


def test_utc_and_vietnam_time_describe_the_same_instant() -> None:
    in_utc = DossierEvent.model_validate(
        dossier(
            occurred_at=T0.astimezone(UTC).isoformat(), submitted_at=T0.astimezone(UTC).isoformat()
        )
    )
    assert in_utc.occurred_at == T0


def test_payment_failure_reason_only_on_failure() -> None:
    base = {
        "event_id": str(uuid.uuid4()), "occurred_at": T0, "agency": "BCA", "payment_id": "P1",
        "dossier_id": "HS-1", "procedure": "passport_issuance", "amount_vnd": 180_000,
        "payment_channel": "vnpay", "status": "success",
    }  # fmt: skip
    assert PaymentEvent.model_validate(base).failure_reason is None
    with pytest.raises(ValidationError, match="failure_reason is required"):
        PaymentEvent.model_validate(base | {"status": "failed"})
    with pytest.raises(ValidationError, match="amount_vnd"):
        PaymentEvent.model_validate(base | {"amount_vnd": 0})


def test_ndxp_result_and_bounds() -> None:
    base = {
        "event_id": str(uuid.uuid4()), "occurred_at": T0, "agency": "01",
        "service": "population_identity", "provider": "BCA", "latency_ms": 120,
        "result": "mismatch", "bytes": 900,
    }  # fmt: skip
    assert NdxpTransaction.model_validate(base).result == "mismatch"
    with pytest.raises(ValidationError, match="latency_ms"):
        NdxpTransaction.model_validate(base | {"latency_ms": -5})


def test_incident_protection_level_is_one_to_five_or_unclassified() -> None:
    base = {
        "event_id": str(uuid.uuid4()), "occurred_at": T0, "agency": "01", "incident_id": "INC-1",
        "stage": "detected", "category": "phishing", "severity": "high",
        "target_system": "SYS-01-0001", "protection_level": 3, "detected_at": T0,
    }  # fmt: skip
    assert IncidentEvent.model_validate(base | {"protection_level": None}).protection_level is None
    with pytest.raises(ValidationError, match="protection_level"):
        IncidentEvent.model_validate(base | {"protection_level": 6})
    with pytest.raises(ValidationError, match="must occur at detected_at"):
        IncidentEvent.model_validate(base | {"occurred_at": T0 + timedelta(minutes=1)})


def test_document_sent_and_receipt_shapes() -> None:
    sent = {
        "event_id": str(uuid.uuid4()), "occurred_at": T0, "agency": "BTC", "document_id": "VB-1",
        "action": "sent", "sender": "BTC", "receivers": ["01", "79"], "doc_type": "cong_van",
        "urgency": "express", "signature_valid": True, "sent_at": T0,
    }  # fmt: skip
    assert DocumentEvent.model_validate(sent).receivers == ("01", "79")
    with pytest.raises(ValidationError, match="at least one receiver"):
        DocumentEvent.model_validate(sent | {"receivers": []})
    receipt = sent | {
        "action": "receipt", "agency": "01", "receivers": [], "receiver": "01",
        "delivery_status": "acknowledged", "occurred_at": T0 + timedelta(seconds=30),
    }  # fmt: skip
    assert DocumentEvent.model_validate(receipt).delivery_status == "acknowledged"
    with pytest.raises(ValidationError, match="emitted by its receiver"):
        DocumentEvent.model_validate(receipt | {"agency": "79"})
    with pytest.raises(ValidationError, match="before the document was sent"):
        DocumentEvent.model_validate(receipt | {"occurred_at": T0 - timedelta(seconds=1)})
