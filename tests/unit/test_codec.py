"""Record values decode to exactly the encoded events; bad input comes back with its reason."""

from __future__ import annotations

import orjson

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import decode, encode_event, encode_events
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
    assert "latency_ms" in bad.reason and "greater than or equal to 0" in bad.reason
    assert orjson.loads(bad.payload)["latency_ms"] == -1


def test_broken_json_and_non_objects_are_rejected_whole() -> None:
    for value, reason in [
        (b'[{"event_id": ', "invalid JSON"),
        (b"42", "not a JSON object or array"),
        (b"", "empty record value"),
        (b'{"event_id": 1}', "event_id"),
    ]:
        decoded = decode(NdxpTransaction, value)
        assert decoded.events == []
        assert len(decoded.rejected) == 1
        assert reason in decoded.rejected[0].reason
        assert decoded.rejected[0].payload == value
