"""The worker's decisions without Kafka or a database: admission, duplicates, late, limits."""

from __future__ import annotations

import hashlib
from array import array
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import Rejected, RejectReason, encode_events
from govpulse.events import Event, NdxpTransaction
from govpulse.topics import feed
from streams.admission import admission_check
from streams.dedupe import Seen, SeenIds, pack, unpack
from streams.measures import ACCUMULATORS
from streams.partition import Limits, PartitionState, RecordApplier, epoch_in
from streams.side_channels import dead_letter, late_batches

START = local_day(2024, 10, 1).replace(hour=9)
LATEST = datetime(2026, 12, 1, tzinfo=UTC)
NOW_S = LATEST.timestamp()


def ndxp(count: int = 20) -> list[NdxpTransaction]:
    config = SimulationConfig(seed=5, scale=1.0, feeds=("ndxp.transactions",))
    events = [e for _, e in simulate(config, START, START + timedelta(minutes=3))]
    return [e for e in events if isinstance(e, NdxpTransaction)][:count]


def one_agency(events: list[NdxpTransaction]) -> list[NdxpTransaction]:
    agency = events[0].agency
    return [e for e in events if e.agency == agency]


def changed(event: Event, **changes: Any) -> Event:
    return event.model_copy(update=changes)


@pytest.mark.parametrize(
    ("changes", "key", "reason", "words"),
    [
        ({"occurred_at": datetime(9999, 12, 31, tzinfo=UTC)}, None, "implausible_time", "future"),
        ({"occurred_at": datetime(1999, 12, 31, tzinfo=UTC)}, None, "implausible_time", "2000"),
        ({"agency": "ZZZZ"}, "ZZZZ", "unknown_reference", "ZZZZ"),
        ({"service": "NO_SUCH_SERVICE"}, None, "unknown_reference", "NO_SUCH_SERVICE"),
        ({"provider": "QQQQ"}, None, "unknown_reference", "QQQQ"),
        ({}, "01x", "agency_not_key", "record key"),
    ],
)
def test_admission_names_the_reason(
    changes: dict[str, Any], key: str | None, reason: str, words: str
) -> None:
    event = changed(ndxp(1)[0], **changes)
    verdict = admission_check("ndxp.transactions")(event, key or event.agency, LATEST)
    assert verdict is not None
    assert verdict[0] == RejectReason(reason) and words in verdict[1]


def test_admission_accepts_the_simulated_feeds() -> None:
    config = SimulationConfig(seed=6, scale=0.2)
    for name, event in simulate(config, START, START + timedelta(hours=1)):
        assert admission_check(name)(event, event.agency, LATEST) is None, event


def test_duplicates_and_conflicts_are_told_apart_and_forgotten_after_the_window() -> None:
    seen = SeenIds()
    packed = seen.add(digest=1, content=77, minute=100)
    assert seen.check(1, 77) is Seen.DUPLICATE
    assert seen.check(1, 78) is Seen.CONFLICT
    assert seen.check(2, 77) is Seen.NEW
    restored = SeenIds()
    restored.load(unpack(pack(array("Q", [1, packed]))))
    assert restored.check(1, 77) is Seen.DUPLICATE
    assert seen.evict_before(101) == 1 and seen.check(1, 77) is Seen.NEW


def applier(**limits: int) -> RecordApplier:
    spec = feed("ndxp.transactions")
    values = {"max_record_bytes": 1_000_000, "max_record_events": 1_000, "grace_minutes": 60,
              "max_future_s": 300} | limits  # fmt: skip
    return RecordApplier(spec, ACCUMULATORS[spec.name], admission_check(spec.name),
                         Limits(**values))  # fmt: skip


def fresh() -> PartitionState:
    return PartitionState.loaded(0, 0, None, SeenIds())


def test_an_event_id_counts_once_whatever_minute_it_claims() -> None:
    events = one_agency(ndxp(200))
    key = events[0].agency.encode()
    state, apply = fresh(), applier()
    apply.apply(state, key, encode_events(NdxpTransaction, events), 0, NOW_S)
    again = apply.apply(state, key, encode_events(NdxpTransaction, events[:3]), 1, NOW_S)
    moved = changed(events[0], occurred_at=events[0].occurred_at + timedelta(minutes=5))
    conflict = apply.apply(state, key, encode_events(NdxpTransaction, [moved]), 2, NOW_S)
    assert again.rejected == [] and state.pending.duplicates == 3
    assert [r.reason for r in conflict.rejected] == [RejectReason.CONFLICTING_DUPLICATE]
    assert state.pending.counted == len(events)
    assert sum(row[0] for row in state.pending.rows.values()) == len(events)
    assert state.pending.to_offset == 3


def test_a_future_event_never_moves_the_watermark() -> None:
    events = one_agency(ndxp(200))
    key = events[0].agency.encode()
    state, apply = fresh(), applier()
    future = changed(events[0], event_id=events[1].event_id.__class__(int=7),
                     occurred_at=datetime(2099, 1, 1, tzinfo=UTC))  # fmt: skip
    apply.apply(state, key, encode_events(NdxpTransaction, [future]), 0, NOW_S)
    assert state.watermark is None
    outcome = apply.apply(state, key, encode_events(NdxpTransaction, events[1:]), 1, NOW_S)
    assert outcome.late_raws == [] and state.pending.counted == len(events) - 1


def test_events_older_than_the_grace_go_late_and_are_not_counted() -> None:
    events = one_agency(ndxp(200))
    key = events[0].agency.encode()
    state, apply = fresh(), applier(grace_minutes=1)
    apply.apply(state, key, encode_events(NdxpTransaction, events[1:]), 0, NOW_S)
    old = changed(events[0], occurred_at=events[0].occurred_at - timedelta(hours=2))
    outcome = apply.apply(state, key, encode_events(NdxpTransaction, [old]), 1, NOW_S)
    assert len(outcome.late_raws) == 1 and state.pending.late == 1
    assert state.pending.counted == len(events) - 1


def test_every_event_in_is_placed_exactly_once() -> None:
    events = one_agency(ndxp(300))
    key = events[0].agency.encode()
    items = [orjson.loads(raw) for raw in [e.model_dump_json() for e in events]]
    items[0]["latency_ms"] = "5"
    batch = orjson.dumps([*items, items[1], 0])
    state = fresh()
    applier().apply(state, key, batch, 0, NOW_S)
    pending = state.pending
    assert pending.events_in == len(items) + 2
    assert (
        pending.events_in == pending.counted + pending.late + pending.invalid + pending.duplicates
    )
    assert pending.invalid == 2 and pending.duplicates == 1


def test_dead_letters_keep_size_and_digest_when_cut() -> None:
    payload = b'{"x": "' + "ố".encode() * 5_000 + b'"}'
    rejected = Rejected(RejectReason.INVALID_EVENT, "why", payload, index=3)
    body = orjson.loads(dead_letter(rejected, "live.ndxp.transactions", 2, 41, 1_001))
    assert body["payload_bytes"] == len(payload)
    assert body["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert len(body["payload_truncated"].encode()) <= 1_003  # a cut character may be replaced
    assert body["source"] == {"topic": "live.ndxp.transactions", "partition": 2, "offset": 41,
                              "index": 3}  # fmt: skip
    small = orjson.loads(dead_letter(Rejected(RejectReason.INVALID_JSON, "x", b"\xff"), "t", 0, 0,
                                     100))  # fmt: skip
    assert small["payload_base64"] == "/w==" and small["reason"] == "invalid_json"


def test_late_events_split_under_the_limit_and_none_lost() -> None:
    raws = [orjson.dumps({"n": i, "pad": "x" * 200}) for i in range(1_000)]
    batches = list(late_batches(raws, 10_000))
    assert len(batches) > 10 and all(len(b) <= 10_000 for b in batches)
    assert [item["n"] for b in batches for item in orjson.loads(b)] == list(range(1_000))


def test_event_time_is_exact_to_the_microsecond_for_minute_archive_and_future_limit() -> None:
    events = one_agency(ndxp(200))[:3]
    key = events[0].agency.encode()
    hanoi = timezone(timedelta(hours=7))
    last_of_minute = datetime(2024, 10, 1, 8, 59, 59, 999_999, tzinfo=hanoi)
    latest = LATEST + timedelta(seconds=300)  # NOW_S plus max_future_s
    timed = [
        changed(events[0], occurred_at=last_of_minute),
        changed(events[1], occurred_at=latest),  # at the limit: admitted
        changed(events[2], occurred_at=latest + timedelta(microseconds=1)),  # past it: refused
    ]
    state, apply = fresh(), applier()
    outcome = apply.apply(state, key, encode_events(NdxpTransaction, timed), 0, NOW_S)
    assert [r.reason for r in outcome.rejected] == [RejectReason.IMPLAUSIBLE_TIME]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [entry[0] for entry in state.pending.archive] == [
        (last_of_minute - epoch) // timedelta(microseconds=1),
        (latest - epoch) // timedelta(microseconds=1),
    ]
    # 08:59:59.999999 in Hanoi is 01:59 UTC: the minute it ends, not the next one.
    first_minute = int(datetime(2024, 10, 1, 1, 59, tzinfo=UTC).timestamp()) // 60
    assert min(row_key[0] for row_key in state.pending.rows) == first_minute
    assert state.pending.last_event_at == latest


@pytest.mark.parametrize(
    "zone",
    [
        timezone(timedelta(hours=7)),
        UTC,
        timezone(-timedelta(hours=3, minutes=30)),
        ZoneInfo("America/New_York"),  # daylight saving time: the UTC epoch must be used
    ],
    ids=["+07:00", "UTC", "-03:30", "New_York"],
)
def test_the_epoch_for_a_zone_gives_exact_microseconds(zone: tzinfo) -> None:
    epoch, microsecond = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
    # Around New York's spring-forward and fall-back hours, and a leap day.
    starts = [datetime(2024, 3, 10, 6, tzinfo=UTC), datetime(2024, 11, 3, 5, tzinfo=UTC),
              datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)]  # fmt: skip
    for start in starts:
        for step in range(0, 180, 7):
            moment = start + timedelta(minutes=step, microseconds=step)
            local = moment.astimezone(zone)
            exact = (moment - epoch) // microsecond
            assert (local - epoch_in(local.tzinfo)) // microsecond == exact


def test_a_record_mixing_time_zones_keeps_every_event_time_exact() -> None:
    events = one_agency(ndxp(400))[:4]
    assert len(events) == 4
    key = events[0].agency.encode()
    zones = [timezone(timedelta(hours=7)), UTC, timezone(timedelta(hours=7)),
             timezone(-timedelta(hours=3, minutes=30))]  # fmt: skip
    moment = datetime(2024, 10, 1, 1, 2, 3, 456_789, tzinfo=UTC)
    timed = [
        changed(event, occurred_at=(moment + timedelta(seconds=i)).astimezone(zone))
        for i, (event, zone) in enumerate(zip(events, zones, strict=True))
    ]
    state = fresh()
    outcome = applier().apply(state, key, encode_events(NdxpTransaction, timed), 0, NOW_S)
    assert outcome.rejected == []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [entry[0] for entry in state.pending.archive] == [
        (moment + timedelta(seconds=i) - epoch) // timedelta(microseconds=1) for i in range(4)
    ]
