"""PostgreSQL's binary COPY format for the flush's two row shapes, encoded in bulk.

psycopg's `write_row` looks up a dumper for every value and awaits once per row; at a few
hundred thousand rows a second that was a fifth of the worker (docs/performance.md). The rows a
flush writes have fixed shapes known at start-up (an aggregate table's columns, the archive's
five), so they are encoded here with precompiled `struct`s into one buffer, written with one
`copy.write`. The format is PostgreSQL's documented one ("COPY", "Binary Format"): a signature
and two int32 fields, then per tuple an int16 field count and per field an int32 length and the
type's binary send format, then an int16 -1. A test compares the tables written this way with
rows written through psycopg's own dumpers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from govpulse import histogram
from govpulse.db.tables import INTEGER_DIMENSIONS, AggregateTable

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

# timestamptz travels as int64 microseconds since 2000-01-01 00:00 UTC.
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_S = int(PG_EPOCH.timestamp())
_PG_EPOCH_US = _PG_EPOCH_S * 1_000_000
INT8_OID = 20

_LENGTH = struct.Struct("!i")
_SMALLINT = struct.Struct("!ih")
# Encoded text values repeat (agencies, services, statuses): kept until this many are known.
_TEXT_CACHE_LIMIT = 50_000

# Tuples per `copy.write`: big enough that the write's own cost vanishes, small enough that a
# flush never holds its whole COPY stream (a few MB at most) besides the pending rows.
CHUNK_TUPLES = 4096

Row = tuple[Any, ...]
# occurred_at as microseconds since the Unix epoch (exact; the worker derives it once per event).
Archived = tuple[int, str, UUID, bytes]


class _Texts:
    """Length-prefixed UTF-8 of text values, cached: the same few thousand codes recur."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    def __call__(self, value: str) -> bytes:
        encoded = self._cache.get(value)
        if encoded is None:
            if len(self._cache) >= _TEXT_CACHE_LIMIT:
                self._cache.clear()
            raw = value.encode()
            encoded = self._cache[value] = _LENGTH.pack(len(raw)) + raw
        return encoded


class AggregateEncoder:
    """One aggregate table's pending rows (key -> measures + histograms) as a COPY stream.

    Columns in `table.columns` order: bucket (the key's minute), agency, the dimensions (text, or
    smallint for `INTEGER_DIMENSIONS`), the measures (int8) and the histograms (int8[]).
    """

    def __init__(self, table: AggregateTable) -> None:
        self.width = len(table.measures)
        self.histograms = len(table.histograms)
        self.integer_dimensions = [d in INTEGER_DIMENSIONS for d in table.dimensions]
        fields = 2 + len(table.dimensions) + self.width + self.histograms
        # Field count, then the bucket's length and value: one struct for the row's head.
        self._head = struct.Struct("!hiq")
        self._fields = fields
        self._measures = struct.Struct("!" + "iq" * self.width)
        buckets = histogram.BUCKETS
        # An int8[] value: its length, then ndim, has-nulls, element oid, size, lower bound, and
        # each element as (length 8, value).
        self._histogram = struct.Struct("!iiiiii" + "iq" * buckets)
        self._histogram_length = 20 + 12 * buckets
        self._texts = _Texts()
        self._encode_rows = self._compile()

    def chunks(self, rows: dict[Row, list[Any]]) -> Iterator[bytes]:
        """The whole COPY stream in pieces of `CHUNK_TUPLES` rows (memory stays flat)."""
        items = iter(rows.items())
        parts: list[bytes] = [HEADER]
        while True:
            before = len(parts)
            self._encode_rows(islice(items, CHUNK_TUPLES), parts)
            if len(parts) == before:
                break
            yield b"".join(parts)
            parts = []
        yield b"".join([*parts, TRAILER])

    def _compile(self) -> Callable[[Iterable[tuple[Row, list[Any]]], list[bytes]], None]:
        # Unrolled per table, like streams.measures.row_adder: the source depends on nothing but
        # the table's column counts and kinds, never on data.
        lines = [
            "def encode_rows(rows, parts):",
            "    append = parts.append",
            "    for key, values in rows:",
            "        append(head(fields, 8, (key[0] * 60 - epoch_s) * 1000000))",
            "        append(text(key[1]))",
        ]
        for index, integer in enumerate(self.integer_dimensions):
            encoder = "smallint(2, key[{0}])" if integer else "text(key[{0}])"
            lines.append(f"        append({encoder.format(index + 2)})")
        if self.width:
            pairs = ", ".join(f"8, values[{i}]" for i in range(self.width))
            lines.append(f"        append(measures({pairs}))")
        for h in range(self.histograms):
            pairs = ", ".join(f"8, hist[{b}]" for b in range(histogram.BUCKETS))
            lines.append(f"        hist = values[{self.width + h}]")
            lines.append(
                f"        append(histogram(hist_length, 1, 0, int8_oid, {histogram.BUCKETS}, 1, "
                f"{pairs}))"
            )
        namespace: dict[str, Any] = {
            "head": self._head.pack,
            "fields": self._fields,
            "epoch_s": _PG_EPOCH_S,
            "text": self._texts,
            "smallint": _SMALLINT.pack,
            "measures": self._measures.pack,
            "histogram": self._histogram.pack,
            "hist_length": self._histogram_length,
            "int8_oid": INT8_OID,
        }
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<aggregate rows encoder>", "exec"), namespace)
        encode_rows: Callable[[Iterable[tuple[Row, list[Any]]], list[bytes]], None]
        encode_rows = namespace["encode_rows"]
        return encode_rows


# jsonb's binary form is a version byte (1) and the JSON text: PostgreSQL parses the text either
# way, but in this form the archive can be copied straight into its jsonb column.
JSONB_VERSION = 1

# The archive's COPY column order: the two text columns first, so that a tuple is the same
# prefix for every event of a feed and agency, then one packed struct and the payload.
ARCHIVE_COLUMNS = ("feed", "agency", "occurred_at", "event_id", "payload")
_ARCHIVE_FIELDS = struct.Struct("!h")
# occurred_at (length 8, int64), event_id (length 16, 16 bytes), payload's length and version.
_ARCHIVE_TAIL = struct.Struct("!iqi16sib")


class ArchiveEncoder:
    """Archive entries as COPY tuples in `ARCHIVE_COLUMNS` order (payload as jsonb)."""

    def __init__(self) -> None:
        self._texts = _Texts()

    def chunks(self, feeds: Iterable[tuple[str, Iterable[Archived]]]) -> Iterator[bytes]:
        """The whole COPY stream in pieces of about `CHUNK_TUPLES` entries."""
        parts: list[bytes] = [HEADER]
        append = parts.append
        tail, text = _ARCHIVE_TAIL.pack, self._texts
        fields = _ARCHIVE_FIELDS.pack(len(ARCHIVE_COLUMNS))
        for feed, entries in feeds:
            feed_field = fields + text(feed)
            prefixes: dict[str, bytes] = {}  # the tuple's first two fields, by agency
            for occurred_us, agency, event_id, raw in entries:
                if len(parts) >= 3 * CHUNK_TUPLES:
                    yield b"".join(parts)
                    parts.clear()
                prefix = prefixes.get(agency)
                if prefix is None:
                    prefix = prefixes[agency] = feed_field + text(agency)
                append(prefix)
                append(tail(8, occurred_us - _PG_EPOCH_US, 16, event_id.bytes,
                            len(raw) + 1, JSONB_VERSION))  # fmt: skip
                append(raw)  # already UTF-8 JSON text
        append(TRAILER)
        yield b"".join(parts)
