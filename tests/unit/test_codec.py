"""Record values decode to exactly the encoded events; bad input comes back with its reason."""

from __future__ import annotations

import orjson

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import RejectReason, decode, encode_event, encode_events
from govpulse.events import NdxpTransaction


def sample(n: int = 20) -> list[NdxpTransaction]:
    config = SimulationConfig(seed=3, scale=0.01, feeds=("ndxp.transactions",))
    events = []
    for _, event in simulate(config, local_day(2024, 10, 1), local_day(2024, 10, 2)):
        assert isinstance(event, NdxpTransaction)
        events.append(event)
        if len(events) == n:
            break
    return events


def test_a_batch_decodes_to_exactly_the_encoded_events() -> None:
    events = sample()
    decoded = decode(NdxpTransaction, encode_events(NdxpTransaction, events))
    assert decoded.events == events
    assert decoded.rejected == []


def test_a_single_object_record_is_accepted() -> None:
    event = sample(1)[0]
    assert decode(NdxpTransaction, encode_event(event)).events == [event]


def test_one_bad_element_is_rejected_alone_with_its_field_and_index() -> None:
    events = sample(5)
    items = orjson.loads(encode_events(NdxpTransaction, events))
    items[2]["latency_ms"] = -1
    decoded = decode(NdxpTransaction, orjson.dumps(items))
    assert decoded.events == events[:2] + events[3:]
    [bad] = decoded.rejected
    assert bad.index == 2
    assert bad.reason is RejectReason.INVALID_EVENT
    assert "latency_ms" in bad.detail and "greater than or equal to 0" in bad.detail
    assert orjson.loads(bad.payload)["latency_ms"] == -1


def test_broken_json_and_non_objects_are_rejected_whole() -> None:
    for value, reason, detail in [
        (b'[{"event_id": ', RejectReason.INVALID_JSON, "invalid JSON"),
        (b"42", RejectReason.NOT_AN_EVENT, "not a JSON object or array"),
        (b"", RejectReason.EMPTY_RECORD, "empty record value"),
        (b'{"event_id": 1}', RejectReason.INVALID_EVENT, "event_id"),
    ]:
        decoded = decode(NdxpTransaction, value)
        assert decoded.events == []
        assert len(decoded.rejected) == 1
        assert decoded.rejected[0].reason is reason
        assert detail in decoded.rejected[0].detail
        assert decoded.rejected[0].payload == value


def test_decoding_is_strict_no_coercion() -> None:
    [event] = sample(1)
    item = orjson.loads(encode_event(event))
    for field, value in [("latency_ms", "100"), ("latency_ms", 100.0), ("occurred_at", 17),
                         ("occurred_at", "2024-10-01T09:00:00"), ("result", "OK"),
                         ("event_id", 123)]:  # fmt: skip
        decoded = decode(NdxpTransaction, orjson.dumps({**item, field: value}))
        assert decoded.events == [], (field, value)
        assert decoded.rejected[0].reason is RejectReason.INVALID_EVENT
        assert field in decoded.rejected[0].detail


def test_huge_records_are_refused_whole_without_validating_elements() -> None:
    zeros = b"[" + b",".join([b"0"] * 50_000) + b"]"
    [refused] = decode(NdxpTransaction, zeros, max_events=10_000).rejected
    assert refused.reason is RejectReason.TOO_MANY_EVENTS and refused.events == 50_000
    [refused] = decode(NdxpTransaction, zeros, max_bytes=1_000).rejected
    assert refused.reason is RejectReason.RECORD_TOO_LARGE and refused.payload == zeros


def test_each_event_keeps_the_bytes_it_arrived_as() -> None:
    events = sample(3)
    decoded = decode(NdxpTransaction, encode_events(NdxpTransaction, events))
    assert [NdxpTransaction.model_validate_json(raw) for raw in decoded.raws] == events
