"""The event ids a partition has counted within the grace window: duplicates count once.

An id is known by a 63-bit digest of its UUID, with a 32-bit digest of the event's content, so a
repeat of the same event is a duplicate while the same id with other content is a conflict (a
dead letter). Entries are kept per event minute and dropped once the partition's watermark has
left that minute behind by more than the grace (plus a margin), which bounds memory by the
window, not by the stream. `pack`/`unpack` give the compact form stored in `seen_ids`.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable
from enum import Enum
from uuid import UUID


class Seen(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


def id_digest(event_id: UUID) -> int:
    # 63 bits: odds of two ids of one window sharing a digest stay below 1e-8 at millions of ids.
    return event_id.int >> 65


# The function itself, not a wrapper: it runs once per event on the worker's hot path.
content_digest = zlib.crc32


# What `SeenIds.offer` returns for an id already counted (a packed value is never negative).
DUPLICATE = -1
CONFLICT = -2


class SeenIds:
    """id digest -> (content digest, minute), with eviction by minute."""

    __slots__ = ("_by_minute", "_entries")

    def __init__(self) -> None:
        self._entries: dict[int, int] = {}  # digest -> content << 32 | minute
        self._by_minute: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, digest: int, content: int) -> Seen:
        known = self._entries.get(digest)
        if known is None:
            return Seen.NEW
        return Seen.DUPLICATE if known >> 32 == content else Seen.CONFLICT

    def offer(self, digest: int, content: int, minute: int) -> int:
        """Check and, when new, remember in one step: the packed value to persist (>= 0) when
        new, else `DUPLICATE` or `CONFLICT` (negative: one int, no tuple, on the hot path)."""
        known = self._entries.get(digest)
        if known is not None:
            return DUPLICATE if known >> 32 == content else CONFLICT
        packed = content << 32 | (minute & 0xFFFFFFFF)
        self._entries[digest] = packed
        bucket = self._by_minute.get(minute)
        if bucket is None:
            self._by_minute[minute] = [digest]
        else:
            bucket.append(digest)
        return packed

    def add(self, digest: int, content: int, minute: int) -> int:
        """Remember a counted id; returns the packed value to persist with it."""
        packed = content << 32 | (minute & 0xFFFFFFFF)
        self._entries[digest] = packed
        bucket = self._by_minute.get(minute)
        if bucket is None:
            self._by_minute[minute] = [digest]
        else:
            bucket.append(digest)
        return packed

    def evict_before(self, minute: int) -> int:
        """Forget ids of minutes before `minute`; returns how many were dropped."""
        dropped = 0
        for old in [m for m in self._by_minute if m < minute]:
            for digest in self._by_minute.pop(old):
                packed = self._entries.get(digest)
                if packed is not None and packed & 0xFFFFFFFF == old & 0xFFFFFFFF:
                    del self._entries[digest]
                    dropped += 1
        return dropped

    def load(self, entries: Iterable[int]) -> None:
        """Take back pairs (digest, packed) as `unpack` yields them flattened."""
        values = iter(entries)
        for digest, packed in zip(values, values, strict=True):
            minute = packed & 0xFFFFFFFF
            self.add(digest, packed >> 32, minute)


def pack(values: array[int]) -> bytes:
    """Stored form of a flat array('Q') of (digest, packed) pairs, little-endian."""
    if array("Q", [1]).tobytes()[0] != 1:  # pragma: no cover - big-endian hosts
        values = array("Q", values)
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes) -> array[int]:
    values = array("Q")
    values.frombytes(blob)
    if array("Q", [1]).tobytes()[0] != 1:  # pragma: no cover - big-endian hosts
        values.byteswap()
    return values
