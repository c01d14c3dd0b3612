"""The fast validator decides exactly as the pydantic models do, on valid and hostile input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import InvalidEvent, decode, strict_validator
from govpulse.events.base import HighCardinality
from govpulse.fast_contracts import FastValidator, derive, fast_validator
from govpulse.topics import FEEDS

START = local_day(2024, 10, 1).replace(hour=9)

# Values a hostile producer might put in any field.
HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 1.5, 10**12, 2**63 - 1, "", "1", "100", "x" * 65, "A", "ab", "AB\n",
    "ZZ ZZ", "ok", "OK", "2024-10-01T09:00:00", "2024-10-01T09:00:00+07:00",
    "2024-10-01 09:00:00+07:00", "2024-10-01T09:00:00+07:00:30", "2024-10-01",
    "9999-12-31T23:59:59Z",
    "5f799e77e435458c94afa9d93ab1ecef", "5F799E77-E435-458C-94AF-A9D93AB1ECEF", [], ["01"],
    ["01"] * 501, {}, 17,
]  # fmt: skip


def corpus() -> dict[str, list[bytes]]:
    """Valid events of every feed, then every field of one event of each replaced by each value,
    removed, or joined by an unknown field."""
    config = SimulationConfig(seed=11, scale=0.3)
    valid: dict[str, list[dict[str, Any]]] = {name: [] for name in FEEDS}
    for name, event in simulate(config, START, START + timedelta(hours=1)):
        if len(valid[name]) < 300:
            valid[name].append(orjson.loads(event.model_dump_json()))
    config = SimulationConfig(seed=11, scale=1.0, feeds=("cyber.incidents",))
    for _, event in simulate(config, START, START + timedelta(days=3)):
        valid["cyber.incidents"].append(orjson.loads(event.model_dump_json()))
    out: dict[str, list[bytes]] = {}
    for name, items in valid.items():
        assert items, name
        raws = [orjson.dumps(item) for item in items]
        for item in items[:3]:
            for field in item:
                for value in HOSTILE_VALUES:
                    raws.append(orjson.dumps({**item, field: value}))
                raws.append(orjson.dumps({k: v for k, v in item.items() if k != field}))
            raws.append(orjson.dumps({**item, "extra": 1}))
            raws.append(orjson.dumps(item)[:-1])  # broken JSON
            raws.append(b'{"agency": "01", ' + orjson.dumps(item)[1:])  # duplicate key
        out[name] = raws
    return out


CORPUS = corpus()


def outcome(validator: Any, raw: bytes) -> tuple[str, Any]:
    try:
        event = validator(raw)
    except InvalidEvent as exc:
        return "invalid", exc.detail
    return "valid", {name: getattr(event, name) for name in type(event).__annotations__} | {
        name: getattr(event, name) for name in getattr(event, "__struct_fields__", ())
    }


@pytest.mark.parametrize("name", list(FEEDS))
def test_every_model_is_derived(name: str) -> None:
    derive(FEEDS[name].model)  # raises Underivable otherwise
    assert isinstance(fast_validator(FEEDS[name].model), FastValidator)


@pytest.mark.parametrize("name", list(FEEDS))
def test_fast_and_model_agree_on_every_input(name: str) -> None:
    model = FEEDS[name].model
    fast, reference = fast_validator(model), strict_validator(model)
    accepted = refused = 0
    for raw in CORPUS[name]:
        want = outcome(reference, raw)
        got = outcome(fast, raw)
        if want[0] == "valid":
            accepted += 1
            assert got[0] == "valid", (raw, got)
            fields = {f: getattr(reference(raw), f) for f in model.model_fields}
            assert {f: getattr(fast(raw), f) for f in model.model_fields} == fields, raw
        else:
            refused += 1
            assert got == want, raw  # the model's own verdict and words
    assert accepted > 100 and refused > 100


@pytest.mark.parametrize("name", list(FEEDS))
def test_whole_batches_decode_alike(name: str) -> None:
    model = FEEDS[name].model
    items = CORPUS[name][:200] + CORPUS[name][-40:]
    value = b"[" + b",".join(items) + b"]"
    fast = decode(model, value, validator=fast_validator(model))
    slow = decode(model, value)
    assert [(r.reason, r.index) for r in fast.rejected] == [
        (r.reason, r.index) for r in slow.rejected
    ]
    assert fast.raws == slow.raws
    for a, b in zip(fast.events, slow.events, strict=True):
        assert all(getattr(a, f) == getattr(b, f) for f in model.model_fields)


def test_valid_batches_take_the_fast_path() -> None:
    model = FEEDS["ndxp.transactions"].model
    items = [orjson.loads(raw) for raw in CORPUS["ndxp.transactions"][:50]]
    decoded = decode(model, orjson.dumps(items), validator=fast_validator(model))
    assert not decoded.rejected
    assert all(type(e).__name__ == "FastNdxpTransaction" for e in decoded.events)


@pytest.mark.parametrize("name", list(FEEDS))
def test_a_well_typed_element_failing_a_check_is_rejected_alone(name: str) -> None:
    # The whole array decodes as structs, so the check fails after decoding, in the loop that
    # otherwise returns every element as an event: the rest must still be events, in order.
    model = FEEDS[name].model
    items = [orjson.loads(raw) for raw in CORPUS[name][:12]]
    items[5] = {**items[5], "agency": "ZZ ZZ"}  # a string, as the struct wants; not a code
    raws = [orjson.dumps(item) for item in items]
    decoded = decode(model, b"[" + b",".join(raws) + b"]", validator=fast_validator(model))
    assert [(r.reason, r.index, r.payload) for r in decoded.rejected] == [
        ("invalid_event", 5, raws[5])
    ]
    assert decoded.raws == raws[:5] + raws[6:]
    assert [e.event_id for e in decoded.events] == [
        model.model_validate_json(raw).event_id for raw in raws[:5] + raws[6:]
    ]
    assert all(type(e).__name__.startswith("Fast") for e in decoded.events)


# An entity's own id recurs only over that entity's few lifecycle steps; codes recur everywhere,
# so only codes are worth the checker's memos.
ENTITY_IDS = {
    "ndxp.transactions": set(),
    "portal.dossiers": {"dossier_id"},
    "portal.payments": {"payment_id", "dossier_id"},
    "vdxp.documents": {"document_id"},
    "cyber.incidents": {"incident_id"},
}


@pytest.mark.parametrize("name", list(FEEDS))
def test_codes_are_remembered_and_entity_ids_are_not(name: str) -> None:
    model = FEEDS[name].model
    marked = {
        field
        for field, info in model.model_fields.items()
        if any(isinstance(item, HighCardinality) for item in info.metadata)
    }
    assert marked == ENTITY_IDS[name]
    validator = FastValidator(model)  # its own memos, not the cached validator's
    reference = strict_validator(model)
    events = [validator(raw) for raw in CORPUS[name] if outcome(reference, raw)[0] == "valid"]
    assert len(events) > 100
    memos = [v for k, v in validator._checked.__globals__.items() if k.startswith("memo")]
    remembered = set().union(*memos)
    assert {event.agency for event in events} <= remembered
    for field in marked:
        # The simulated ids; the corpus's hostile strings also went through the code fields.
        values = {getattr(event, field) for event in events} - set(map(str, HOSTILE_VALUES))
        assert len(values) > 10  # the simulated ids, many distinct ones
        assert not values & remembered, field
