"""The event ids a partition has counted within the grace window: duplicates count once.

An id is known by a 63-bit digest of its UUID, with a 32-bit digest of the event's content, so a
repeat of the same event is a duplicate while the same id with other content is a conflict (a
dead letter). Each id carries the event minute it was counted in and is dropped once the
partition's watermark has left that minute behind by more than the grace (plus a margin), which
bounds memory by the window, not by the stream. `pack`/`unpack` give the compact form stored in
`seen_ids`.

Memory is what decides the layout. A window can hold a million ids (three minutes of overload at
6,000 one-event records/s), and as a dict of Python ints each costs about 120 bytes. So ids live
in two places: the newest in a dict (fast to add and find), the rest in two sorted numpy arrays
(digest, packed value: 16 bytes an id) that the dict is merged into once it holds `compact_at`
ids or a 64th of the arrays, whichever is more. Every partition has a window of its own (25
on a worker holding every partition), so the dict's bound is what decides a worker's memory: at
32,768 ids a partition, an overload left about 80 MB of ids in dicts; at 4,096 at most 11 MB.
The dicts' ints also live among the short-lived decoded events, and CPython gives an arena of
them back only once all of it is free, so the bound is now 1,024: an overload's peak opens
fewer arenas that a few long-lived objects keep afterwards (docs/performance.md, seventeenth
session). A merge copies the arrays (16 bytes an id held): merging a 64th at a time copies
about 1 KiB per id merged; offering into one window of 400,000 ids measured 0.99 against 0.75
µs an id with the earlier bounds.
Searching the arrays one id at a time would cost more than the dict saves, so a record's ids
are searched at once: `begin(digests)` before offering them, `end()` after. Without `begin`, a
lookup searches the arrays on its own (exact, only slower).
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Sequence
from enum import Enum
from uuid import UUID

import numpy as np

_MINUTE_MASK = 0xFFFFFFFF  # a packed value's low 32 bits: the minute (epoch minutes fit 32 bits)
_NO_MINUTE = 1 << 62  # above every minute: "nothing held"
COMPACT_AT = 1_024
COMPACT_FRACTION_SHIFT = 6  # ... or a 64th of the ids already merged


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


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.uint64)


class SeenIds:
    """id digest -> packed (content << 32 | minute), with eviction by minute."""

    __slots__ = ("_compact_at", "_digests", "_hits", "_packed", "_recent", "_recent_min",
                 "_sorted_min")  # fmt: skip

    def __init__(self, compact_at: int = COMPACT_AT) -> None:
        self._compact_at = compact_at
        self._recent: dict[int, int] = {}  # the newest ids, not yet merged into the arrays
        self._recent_min = _NO_MINUTE  # no minute in `_recent` is older
        self._digests = _empty()  # sorted, unique
        self._packed = _empty()  # the packed value of each digest, same order
        self._sorted_min = _NO_MINUTE  # no minute in the arrays is older
        self._hits: dict[int, int] | None = None  # the arrays' answers for the current batch

    def __len__(self) -> int:
        return len(self._recent) + len(self._digests)

    # -- a batch ---------------------------------------------------------------------------------

    def begin(self, digests: Sequence[int]) -> None:
        """Search the arrays for a batch's ids at once; offer and check only these until `end`."""
        recent = len(self._recent)
        if recent >= self._compact_at and recent >= len(self._digests) >> COMPACT_FRACTION_SHIFT:
            self._compact()
        held = len(self._digests)
        if not held or not digests:
            self._hits = {}
            return
        probe = np.array(digests, dtype=np.uint64)
        where = np.searchsorted(self._digests, probe)
        np.minimum(where, held - 1, out=where)
        found = self._digests[where] == probe
        if not found.any():
            self._hits = {}
            return
        self._hits = dict(
            zip(probe[found].tolist(), self._packed[where[found]].tolist(), strict=True)
        )

    def end(self) -> None:
        self._hits = None

    # -- one id ----------------------------------------------------------------------------------

    def _search(self, digest: int) -> int | None:
        held = len(self._digests)
        if not held:
            return None
        at = int(np.searchsorted(self._digests, np.uint64(digest)))
        if at < held and int(self._digests[at]) == digest:
            return int(self._packed[at])
        return None

    def _known(self, digest: int) -> int | None:
        known = self._recent.get(digest)
        if known is None:
            hits = self._hits
            if hits is None:
                return self._search(digest)
            if hits:
                return hits.get(digest)
        return known

    def check(self, digest: int, content: int) -> Seen:
        known = self._known(digest)
        if known is None:
            return Seen.NEW
        return Seen.DUPLICATE if known >> 32 == content else Seen.CONFLICT

    def offer(self, digest: int, content: int, minute: int) -> int:
        """Check and, when new, remember in one step: the packed value to persist (>= 0) when
        new, else `DUPLICATE` or `CONFLICT` (negative: one int, no tuple, on the hot path)."""
        # `_known`, inlined: this runs once per counted event and a method call costs as much.
        recent = self._recent
        known = recent.get(digest)
        if known is None:
            hits = self._hits
            if hits is None:
                known = self._search(digest)
            elif hits:
                known = hits.get(digest)
        if known is not None:
            return DUPLICATE if known >> 32 == content else CONFLICT
        packed = content << 32 | (minute & _MINUTE_MASK)
        recent[digest] = packed
        if minute < self._recent_min:
            self._recent_min = minute
        return packed

    def add(self, digest: int, content: int, minute: int) -> int:
        """Remember a counted id (replacing what was known of it); returns its packed value."""
        packed = content << 32 | (minute & _MINUTE_MASK)
        self._recent[digest] = packed
        if minute < self._recent_min:
            self._recent_min = minute
        self._hits = None
        return packed

    # -- the window ------------------------------------------------------------------------------

    def evict_before(self, minute: int) -> int:
        """Forget ids of minutes before `minute`; returns how many were dropped."""
        if minute <= min(self._recent_min, self._sorted_min):
            return 0  # the common call: the horizon has not passed anything held
        before = len(self)
        self._compact()
        keep = (self._packed & np.uint64(_MINUTE_MASK)) >= np.uint64(minute)
        if not keep.all():
            self._digests = self._digests[keep]
            self._packed = self._packed[keep]
        self._sorted_min = self._oldest(self._packed)
        return before - len(self)

    def compact(self) -> None:
        """Merge the newest ids into the arrays now (an idle worker's dict memory goes back)."""
        self._compact()

    def load(self, entries: Iterable[int]) -> None:
        """Take back pairs (digest, packed) as `unpack` yields them flattened; a digest given
        twice keeps its later value."""
        pairs = np.array(list(entries) if not isinstance(entries, array) else entries,
                         dtype=np.uint64).reshape(-1, 2)  # fmt: skip
        self._compact()
        digests = np.concatenate((self._digests, pairs[:, 0]))
        packed = np.concatenate((self._packed, pairs[:, 1]))
        order = np.argsort(digests, kind="stable")  # equal digests keep their arrival order
        digests, packed = digests[order], packed[order]
        last = np.ones(len(digests), dtype=bool)
        last[:-1] = digests[1:] != digests[:-1]
        self._digests, self._packed = digests[last], packed[last]
        self._sorted_min = self._oldest(self._packed)

    def _compact(self) -> None:
        """Merge the dict into the sorted arrays."""
        self._hits = None
        recent = self._recent
        if not recent:
            return
        count = len(recent)
        digests = np.fromiter(recent.keys(), dtype=np.uint64, count=count)
        packed = np.fromiter(recent.values(), dtype=np.uint64, count=count)
        order = np.argsort(digests)
        digests, packed = digests[order], packed[order]
        held = len(self._digests)
        where = np.searchsorted(self._digests, digests)
        if held:
            # An id added again (`add`) replaces its earlier value rather than being held twice.
            present = where < held
            present[present] = self._digests[where[present]] == digests[present]
            if present.any():
                self._packed[where[present]] = packed[present]
                fresh = ~present
                digests, packed, where = digests[fresh], packed[fresh], where[fresh]
        self._digests = np.insert(self._digests, where, digests)
        self._packed = np.insert(self._packed, where, packed)
        self._sorted_min = min(self._sorted_min, self._recent_min)
        self._recent = {}
        self._recent_min = _NO_MINUTE

    @staticmethod
    def _oldest(packed: np.ndarray) -> int:
        if not len(packed):
            return _NO_MINUTE
        return int((packed & np.uint64(_MINUTE_MASK)).min())


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
