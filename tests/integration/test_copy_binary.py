"""The flush's hand-encoded binary COPY writes exactly what psycopg's own dumpers write.

For every aggregate table and for the raw-event archive, the same rows go into two staging
tables of the real schema: one through `copy.write_row` with psycopg's types, one through
`streams.copy_binary`; PostgreSQL must hold the same values in both. The rows carry what could
trip an encoder: non-ASCII text, empty text, big and negative numbers, the histogram's edges,
timestamps before 2000 and with microseconds, a payload with escapes and multi-byte characters
(the archive's payload is jsonb, as in `raw_events`, into which the worker copies directly).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES, INTEGER_DIMENSIONS, AggregateTable
from govpulse.settings import Settings
from streams.copy_binary import ARCHIVE_COLUMNS, CHUNK_TUPLES, AggregateEncoder, ArchiveEncoder
from streams.partition import MICROSECOND, UNIX_EPOCH

pytestmark = pytest.mark.postgres

MINUTES = (0, 15_778_800, 28_795_799, 29_000_000)  # 1970, 2000, 2024, 2025 (epoch minutes)
TEXTS = ("", "HNI", "Hà Nội – Sở Tư pháp", "tab\there", "quote'\"\\", "日本")


def _rows(table: AggregateTable, count: int) -> dict[tuple[Any, ...], list[Any]]:
    rows: dict[tuple[Any, ...], list[Any]] = {}
    for n in range(count):
        dims = [
            n % 4 if d in INTEGER_DIMENSIONS else TEXTS[(n + i) % len(TEXTS)] + str(n)
            for i, d in enumerate(table.dimensions)
        ]
        key = (MINUTES[n % len(MINUTES)], TEXTS[n % len(TEXTS)], *dims)
        measures = [(n * 7919 + i) * (-1 if i % 3 == 2 else 1) for i in range(len(table.measures))]
        if measures:
            measures[0] = 2**62 + n  # far past int4
        hists = [
            [(n + b) % 5 if b not in (0, histogram.BUCKETS - 1) else 2**40 for b in range(16)]
            for _ in table.histograms
        ]
        rows[key] = measures + hists
    return rows


def _stage(conn: psycopg.Connection[Any], schema: str, table: str, name: str) -> sql.Identifier:
    stage = sql.Identifier(name)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {s} (LIKE {t} INCLUDING DEFAULTS)").format(
            s=stage, t=sql.Identifier(schema, table)
        )
    )
    return stage


def _column_types(table: AggregateTable) -> list[str]:
    dims = ["smallint" if d in INTEGER_DIMENSIONS else "text" for d in table.dimensions]
    measures = ["int8"] * len(table.measures)
    return ["timestamptz", "text", *dims, *measures, *(["int8[]"] * len(table.histograms))]


@pytest.mark.parametrize("feed", sorted(AGGREGATE_TABLES))
def test_aggregate_rows_equal_psycopgs_own(
    pg_settings: Settings, db_namespace: str, feed: str
) -> None:
    table = AGGREGATE_TABLES[feed]
    rows = _rows(table, CHUNK_TUPLES + 37)  # more than one chunk
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    with psycopg.connect(pg_settings.db.conninfo()) as conn:
        theirs = _stage(conn, db_namespace, table.name, "theirs")
        ours = _stage(conn, db_namespace, table.name, "ours")
        copy_into = "COPY {s} ({c}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor().copy(sql.SQL(copy_into).format(s=theirs, c=columns)) as copy:
            copy.set_types(_column_types(table))
            for (minute, *rest), values in rows.items():
                copy.write_row((datetime.fromtimestamp(minute * 60, UTC), *rest, *values))
        with conn.cursor().copy(sql.SQL(copy_into).format(s=ours, c=columns)) as copy:
            for chunk in AggregateEncoder(table).chunks(rows):
                copy.write(chunk)
        compare = "SELECT {c} FROM {s} ORDER BY {c}"
        expected = conn.execute(sql.SQL(compare).format(s=theirs, c=columns)).fetchall()
        got = conn.execute(sql.SQL(compare).format(s=ours, c=columns)).fetchall()
    assert len(expected) == len(rows)
    assert got == expected


def test_empty_rows_are_an_empty_copy(pg_settings: Settings, db_namespace: str) -> None:
    table = AGGREGATE_TABLES["ndxp.transactions"]
    with psycopg.connect(pg_settings.db.conninfo()) as conn:
        stage = _stage(conn, db_namespace, table.name, "empty")
        with conn.cursor().copy(
            sql.SQL("COPY {s} ({c}) FROM STDIN (FORMAT BINARY)").format(
                s=stage, c=sql.SQL(", ").join(map(sql.Identifier, table.columns))
            )
        ) as copy:
            for chunk in AggregateEncoder(table).chunks({}):
                copy.write(chunk)
        count = conn.execute(sql.SQL("SELECT count(*) FROM {s}").format(s=stage)).fetchone()
    assert count == (0,)


def test_archive_entries_equal_psycopgs_own(pg_settings: Settings) -> None:
    hanoi = timezone(timedelta(hours=7))
    payloads = [
        b'{"note":"S\xe1\xbb\x9f T\xc6\xb0 ph\xc3\xa1p","esc":"a\\"b\\\\c\\u00e9\\n"}',
        b"{}",
        b'{"big":' + b"9" * 5000 + b"}",
    ]
    entries = [
        (
            datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(minutes=n * 37),
            TEXTS[n % len(TEXTS)] or "X",
            UUID(int=(n * 0x9E3779B97F4A7C15) % 2**128),
            payloads[n % len(payloads)],
        )
        for n in range(CHUNK_TUPLES * 2 + 5)
    ]
    entries[1] = (datetime(2024, 10, 1, 8, 0, 0, 1, tzinfo=hanoi), *entries[1][1:])
    feeds = [("ndxp.transactions", entries[:100]), ("portal.dossiers", entries[100:])]
    create = (
        "CREATE TEMP TABLE {s} (occurred_at timestamptz, feed text, agency text, "
        "event_id uuid, payload jsonb)"
    )
    copy_into = "COPY {s} ({c}) FROM STDIN (FORMAT BINARY)"
    theirs_columns = sql.SQL("occurred_at, feed, agency, event_id, payload")
    our_columns = sql.SQL(", ").join(map(sql.Identifier, ARCHIVE_COLUMNS))
    with psycopg.connect(pg_settings.db.conninfo()) as conn:
        for name in ("theirs", "ours"):
            conn.execute(sql.SQL(create).format(s=sql.Identifier(name)))
        theirs = sql.SQL(copy_into).format(s=sql.Identifier("theirs"), c=theirs_columns)
        with conn.cursor().copy(theirs) as copy:
            copy.set_types(["timestamptz", "text", "text", "uuid", "jsonb"])
            for feed, items in feeds:
                for occurred_at, agency, event_id, raw in items:
                    payload = Jsonb(raw.decode(), dumps=str)  # the text as it is, not re-dumped
                    copy.write_row((occurred_at, feed, agency, event_id, payload))
        ours = sql.SQL(copy_into).format(s=sql.Identifier("ours"), c=our_columns)
        with conn.cursor().copy(ours) as copy:
            # The worker hands the encoder event times as it derives them: exact microseconds.
            as_worker = [
                (feed, [((at - UNIX_EPOCH) // MICROSECOND, agency, event_id, raw)
                        for at, agency, event_id, raw in items])
                for feed, items in feeds
            ]  # fmt: skip
            for chunk in ArchiveEncoder().chunks(as_worker):
                copy.write(chunk)
        # As PostgreSQL prints the jsonb: the 5000-digit number is beyond Python's int parsing.
        compare = (
            "SELECT occurred_at, feed, agency, event_id, payload::text FROM {s} "
            "ORDER BY event_id, occurred_at, feed"
        )
        expected = conn.execute(sql.SQL(compare).format(s=sql.Identifier("theirs"))).fetchall()
        got = conn.execute(sql.SQL(compare).format(s=sql.Identifier("ours"))).fetchall()
    assert len(expected) == len(entries)
    assert got == expected
