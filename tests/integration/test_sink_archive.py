"""The flush copies the archive straight into `raw_events`; what the table refuses is not lost.

Records are applied as the worker applies them (`RecordApplier`) and written with the worker's
`DatabaseSink` to a migrated namespace: the archive must hold each counted event once with its
exact payload, also when a hostile producer put the same events under two partitions (the COPY
meets the primary key and the flush retries through the staged insert) and when the table
refuses a row (the flush goes row by row and quarantines that row).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.events import NdxpTransaction
from govpulse.settings import Settings
from govpulse.topics import feed
from streams.admission import admission_check
from streams.measures import ACCUMULATORS
from streams.partition import Limits, RecordApplier
from streams.sink import DatabaseSink, FeedBatch, Fenced
from streams.state_store import StateStore

pytestmark = pytest.mark.postgres

FEED = "ndxp.transactions"
TOPIC = "sink-archive-test"
START = local_day(2024, 10, 1).replace(hour=9)


def ndxp_payloads(count: int) -> list[dict[str, Any]]:
    """Simulated NDXP events of one agency, as the JSON objects a producer sends."""
    config = SimulationConfig(seed=11, scale=1.0, feeds=(FEED,))
    events = [e for _, e in simulate(config, START, START + timedelta(minutes=5))]
    ndxp = [e for e in events if isinstance(e, NdxpTransaction)]
    agency = ndxp[0].agency
    return [e.model_dump(mode="json") for e in ndxp if e.agency == agency][:count]


def applier() -> RecordApplier:
    spec = feed(FEED)
    limits = Limits(max_record_bytes=1_000_000, max_record_events=1_000, grace_minutes=60,
                    max_future_s=300)  # fmt: skip
    return RecordApplier(spec, ACCUMULATORS[FEED], admission_check(FEED), limits)


async def flush(settings: Settings, records: dict[int, list[bytes]]) -> dict[str, int]:
    """Apply each partition's records from its stored offset and write them in one flush."""
    store = StateStore(settings.db, settings.namespace, grace_minutes=60)
    sink = DatabaseSink(settings.db, settings.namespace)
    apply = applier()
    parts = {}
    try:
        for partition, values in records.items():
            state = await store.load(TOPIC, partition)
            for offset, value in enumerate(values, start=state.next_offset):
                key = orjson.loads(value)[0]["agency"].encode()
                apply.apply(state, key, value, offset, START.timestamp() + 3600)
            parts[partition] = state.take_pending()
        result = await sink.write([FeedBatch(FEED, TOPIC, parts)], [], [], {})
    finally:
        await sink.close()
        await store.close()
    return result.quarantined


def archive(settings: Settings) -> list[tuple[str, str]]:
    with psycopg.connect(settings.db.conninfo()) as conn:
        rows = conn.execute(
            sql.SQL("SELECT event_id::text, payload::text FROM {} ORDER BY event_id").format(
                sql.Identifier(settings.namespace, "raw_events")
            )
        ).fetchall()
    return [(str(event_id), str(payload)) for event_id, payload in rows]


def calls(settings: Settings) -> int:
    with psycopg.connect(settings.db.conninfo()) as conn:
        row = conn.execute(
            sql.SQL("SELECT coalesce(sum(calls), 0) FROM {}").format(
                sql.Identifier(settings.namespace, "ndxp_minute")
            )
        ).fetchone()
    assert row is not None
    return int(row[0])


def as_jsonb_text(payload: dict[str, Any], settings: Settings) -> str:
    with psycopg.connect(settings.db.conninfo()) as conn:
        row = conn.execute("SELECT %s::jsonb::text", (orjson.dumps(payload).decode(),)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def settings(pg_settings: Settings, db_namespace: str) -> Settings:
    return pg_settings.model_copy(update={"namespace": db_namespace})


def test_the_archive_holds_each_counted_event_once_with_its_payload(settings: Settings) -> None:
    payloads = ndxp_payloads(30)
    records = [orjson.dumps(payloads[:20]), orjson.dumps(payloads[20:])]
    assert asyncio.run(flush(settings, {0: records})) == {}
    expected = sorted((p["event_id"], as_jsonb_text(p, settings)) for p in payloads)
    assert archive(settings) == expected
    assert calls(settings) == 30


def test_the_same_events_under_two_partitions_are_archived_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    payloads = ndxp_payloads(12)
    record = orjson.dumps(payloads)
    # Partition 1 first, alone: its events are in the archive before the hostile flush.
    assert asyncio.run(flush(settings, {1: [record]})) == {}
    # Then both partitions in one flush: 0 brings the same events again, 2 brings them twice.
    with caplog.at_level(logging.WARNING, logger="streams.sink"):
        assert asyncio.run(flush(settings, {0: [record], 2: [record]})) == {}
    # Through the staged retry, not the row-by-row path that refusals take.
    warnings = [r.getMessage() for r in caplog.records if r.name == "streams.sink"]
    assert len(warnings) == 1 and "archived twice" in warnings[0], warnings
    assert [event_id for event_id, _ in archive(settings)] == sorted(
        p["event_id"] for p in payloads
    )
    # Each partition has its own id window: the aggregates count the events once per partition.
    assert calls(settings) == 3 * len(payloads)


def test_an_archive_row_the_table_refuses_is_quarantined_and_the_rest_archived(
    settings: Settings,
) -> None:
    payloads = ndxp_payloads(8)
    refused = payloads[3]["event_id"]
    # A constraint standing for any refusal of an archive row (validation lets no payload
    # through that jsonb would refuse): the COPY fails, the flush goes row by row.
    with psycopg.connect(settings.db.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT refuse_one_event CHECK (event_id <> {})").format(
                sql.Identifier(settings.namespace, "raw_events"), sql.Literal(refused)
            )
        )
    quarantined = asyncio.run(flush(settings, {0: [orjson.dumps(payloads)]}))
    assert quarantined == {}  # the aggregate rows were written; only an archive row refused
    archived = [event_id for event_id, _ in archive(settings)]
    assert archived == sorted(p["event_id"] for p in payloads if p["event_id"] != refused)
    with psycopg.connect(settings.db.conninfo()) as conn:
        rows = conn.execute(
            sql.SQL("SELECT target, reason, row_data FROM {}").format(
                sql.Identifier(settings.namespace, "quarantine")
            )
        ).fetchall()
    assert len(rows) == 1
    target, reason, row_data = rows[0]
    assert target == "raw_events" and "refuse_one_event" in reason and refused in row_data
    assert calls(settings) == len(payloads)


def stored_offset(settings: Settings, partition: int, moved_to: int | None = None) -> int:
    """The partition's stored next offset, after setting it to `moved_to` when given."""
    offsets = sql.Identifier(settings.namespace, "stream_offsets")
    with psycopg.connect(settings.db.conninfo(), autocommit=True) as conn:
        if moved_to is not None:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET next_offset = %s WHERE topic = %s AND partition = %s"
                ).format(offsets),
                (moved_to, TOPIC, partition),
            )
        row = conn.execute(
            sql.SQL("SELECT next_offset FROM {} WHERE topic = %s AND partition = %s").format(
                offsets
            ),
            (TOPIC, partition),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_archive_committed_without_its_offsets_is_not_archived_twice(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The archive has its own transaction, committed before the offsets' one; a flush that
    stops in between (here fenced off, as a zombie is; a crash leaves the same) leaves archived
    events whose records are read again, and the flush that reads them archives them once."""
    payloads = ndxp_payloads(16)
    record = orjson.dumps(payloads)

    async def zombie_flush() -> None:
        store = StateStore(settings.db, settings.namespace, grace_minutes=60)
        sink = DatabaseSink(settings.db, settings.namespace)
        try:
            state = await store.load(TOPIC, 0)
            key = payloads[0]["agency"].encode()
            applier().apply(state, key, record, state.next_offset, START.timestamp() + 3600)
            stored_offset(settings, 0, moved_to=7)  # another worker took the partition over
            with pytest.raises(Fenced):
                await sink.write([FeedBatch(FEED, TOPIC, {0: state.take_pending()})], [], [], {})
        finally:
            await sink.close()
            await store.close()

    asyncio.run(zombie_flush())
    # The archive committed (it goes first); the aggregates and offsets did not.
    assert len(archive(settings)) == len(payloads)
    assert calls(settings) == 0 and stored_offset(settings, 0) == 7
    # The records are read again from offset 0 (as after a crash between the two commits).
    stored_offset(settings, 0, moved_to=0)
    with caplog.at_level(logging.WARNING, logger="streams.sink"):
        assert asyncio.run(flush(settings, {0: [record]})) == {}
    assert any("archived twice" in r.getMessage() for r in caplog.records)
    expected = sorted((p["event_id"], as_jsonb_text(p, settings)) for p in payloads)
    assert archive(settings) == expected
    assert calls(settings) == len(payloads) and stored_offset(settings, 0) == 1
