"""The counted-id window (`streams.dedupe.SeenIds`) against a plain dict model of its contract.

The window keeps its newest ids in a dict and merges them into sorted arrays past `compact_at` (or
a sixteenth of what the arrays hold);
the model tests run with a small `compact_at` too, so most lookups go to the arrays, one id at a
time or a batch at once (`begin`/`end`, as the worker does per record).
"""

from __future__ import annotations

import random
import tracemalloc
from array import array

import pytest

from streams.dedupe import COMPACT_AT, CONFLICT, DUPLICATE, Seen, SeenIds, pack, unpack

TOP_DIGEST = (1 << 63) - 1  # digests are 63 bits
MINUTE = 29_000_000  # an epoch minute of 2025


def packed(content: int, minute: int) -> int:
    return content << 32 | (minute & 0xFFFFFFFF)


class Model:
    """The contract in the simplest form: digest -> packed, minute -> digests."""

    def __init__(self) -> None:
        self.entries: dict[int, int] = {}
        self.by_minute: dict[int, list[int]] = {}

    def offer(self, digest: int, content: int, minute: int) -> int:
        known = self.entries.get(digest)
        if known is not None:
            return DUPLICATE if known >> 32 == content else CONFLICT
        self.entries[digest] = packed(content, minute)
        self.by_minute.setdefault(minute, []).append(digest)
        return packed(content, minute)

    def evict_before(self, minute: int) -> int:
        dropped = 0
        for old in [m for m in self.by_minute if m < minute]:
            for digest in self.by_minute.pop(old):
                if self.entries.get(digest, -1) & 0xFFFFFFFF == old & 0xFFFFFFFF:
                    del self.entries[digest]
                    dropped += 1
        return dropped


def test_new_duplicate_and_conflict() -> None:
    seen = SeenIds()
    assert seen.offer(7, 77, MINUTE) == packed(77, MINUTE)
    assert seen.offer(7, 77, MINUTE) == DUPLICATE
    assert seen.offer(7, 78, MINUTE + 5) == CONFLICT
    assert (seen.check(7, 77), seen.check(7, 78), seen.check(8, 77)) == (
        Seen.DUPLICATE, Seen.CONFLICT, Seen.NEW,
    )  # fmt: skip
    assert len(seen) == 1


def test_extreme_digests_and_contents() -> None:
    seen = SeenIds()
    for digest in (0, 1, TOP_DIGEST):
        assert seen.offer(digest, 0xFFFFFFFF, MINUTE) == packed(0xFFFFFFFF, MINUTE)
        assert seen.offer(digest, 0xFFFFFFFF, MINUTE) == DUPLICATE
        assert seen.offer(digest, 0, MINUTE) == CONFLICT
    assert len(seen) == 3 and seen.evict_before(MINUTE + 1) == 3 and len(seen) == 0


def test_eviction_drops_the_minutes_before_and_keeps_the_boundary() -> None:
    seen = SeenIds()
    for minute in range(MINUTE, MINUTE + 3):
        seen.offer(minute, 1, minute)
    assert seen.evict_before(MINUTE + 1) == 1
    assert seen.check(MINUTE, 1) is Seen.NEW
    assert seen.check(MINUTE + 1, 1) is Seen.DUPLICATE
    assert seen.evict_before(MINUTE + 1) == 0 and len(seen) == 2


def test_an_id_evicted_then_seen_again_counts_as_new() -> None:
    seen = SeenIds()
    seen.offer(42, 5, MINUTE)
    assert seen.evict_before(MINUTE + 1) == 1
    assert seen.offer(42, 6, MINUTE + 70) == packed(6, MINUTE + 70)
    assert seen.offer(42, 6, MINUTE + 70) == DUPLICATE
    # Forgetting the earlier minute again must not drop the id counted later.
    assert seen.evict_before(MINUTE + 70) == 0 and seen.check(42, 6) is Seen.DUPLICATE


def test_re_adding_in_a_later_minute_survives_eviction_of_the_earlier() -> None:
    seen = SeenIds()
    seen.add(9, 1, MINUTE)
    assert seen.add(9, 2, MINUTE + 10) == packed(2, MINUTE + 10)
    assert len(seen) == 1
    assert seen.evict_before(MINUTE + 5) == 0 and seen.check(9, 2) is Seen.DUPLICATE
    assert seen.evict_before(MINUTE + 11) == 1 and len(seen) == 0


def test_load_takes_back_what_pack_stored() -> None:
    rng = random.Random(3)
    seen = SeenIds()
    pairs = array("Q")
    for n in range(5_000):
        digest, content, minute = rng.getrandbits(63), rng.getrandbits(32), MINUTE + n % 60
        value = seen.offer(digest, content, minute)
        if value >= 0:
            pairs.extend((digest, value))
    restored = SeenIds()
    restored.load(unpack(pack(pairs)))
    assert len(restored) == len(seen) == len(pairs) // 2
    for digest, value in zip(pairs[::2], pairs[1::2], strict=True):
        assert restored.check(digest, value >> 32) is Seen.DUPLICATE
        assert restored.offer(digest, value >> 32, value & 0xFFFFFFFF) == DUPLICATE
    assert restored.evict_before(MINUTE + 30) == seen.evict_before(MINUTE + 30)


@pytest.mark.parametrize(
    ("compact_at", "batch"), [(COMPACT_AT, 1), (97, 1), (97, 64), (5_000, 300)]
)
def test_many_ids_over_a_sliding_window_behave_as_the_model(compact_at: int, batch: int) -> None:
    # Enough ids to merge into the arrays many times and evict from them again; some digests
    # share their low or high bits, some are repeated with the same or other content (within a
    # batch too), the horizon moves as it runs.
    rng = random.Random(12)
    seen, model = SeenIds(compact_at), Model()
    recent: list[tuple[int, int, int]] = []
    for minute in range(MINUTE, MINUTE + 40):
        offers: list[tuple[int, int, int]] = []
        for _ in range(2_000 if minute < MINUTE + 30 else 50):
            roll = rng.random()
            if recent and roll < 0.1:
                digest, content, at = rng.choice(recent)
                if roll < 0.02:
                    content ^= 1
            else:
                digest = rng.getrandbits(63) if roll < 0.9 else rng.getrandbits(8) << 55
                content, at = rng.getrandbits(32), minute
                recent.append((digest, content, at))
            offers.append((digest, content, at))
        for start in range(0, len(offers), batch):
            chunk = offers[start : start + batch]
            if batch > 1:
                seen.begin([digest for digest, _, _ in chunk])
            for digest, content, at in chunk:
                assert seen.offer(digest, content, at) == model.offer(digest, content, at)
            if batch > 1:
                seen.end()
        assert seen.evict_before(minute - 10) == model.evict_before(minute - 10)
        assert len(seen) == len(model.entries)
        recent = recent[-5_000:]
    for digest, value in model.entries.items():
        assert seen.check(digest, value >> 32) is Seen.DUPLICATE
    assert seen.evict_before(MINUTE + 100) == len(model.entries)
    assert len(seen) == 0
    assert all(seen.check(digest, 0) is Seen.NEW for digest, _, _ in recent)


def test_a_batch_sees_what_was_counted_before_it_and_within_it() -> None:
    seen = SeenIds(compact_at=2)
    seen.offer(1, 10, MINUTE)
    seen.offer(2, 20, MINUTE)
    seen.begin([1, 2, 3, 3])  # 1 and 2 are merged into the arrays first
    assert len(seen) == 2
    assert seen.offer(1, 10, MINUTE) == DUPLICATE
    assert seen.offer(2, 21, MINUTE) == CONFLICT
    assert seen.offer(3, 30, MINUTE) == packed(30, MINUTE)
    assert seen.offer(3, 30, MINUTE) == DUPLICATE
    assert seen.check(2, 20) is Seen.DUPLICATE
    seen.end()
    assert seen.check(1, 10) is Seen.DUPLICATE and seen.check(4, 1) is Seen.NEW


def offer_in_batches(seen: SeenIds, ids: list[int], batch: int) -> None:
    """Offer `ids` a record of `batch` at a time, as the worker does, all in one minute."""
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        seen.begin(chunk)
        for digest in chunk:
            seen.offer(digest, digest & 0xFFFFFFFF, MINUTE)
        seen.end()


def test_a_million_ids_take_about_16_bytes_each_once_merged() -> None:
    # The reason for the arrays: a dict of Python ints holds about 120 bytes an id, so a window
    # of a million ids (three minutes of overload) was 120 MB; merged it is 16 MB.
    rng = random.Random(5)
    ids = [rng.getrandbits(63) for _ in range(1_000_000)]
    tracemalloc.start()
    try:
        seen = SeenIds()
        offer_in_batches(seen, ids, 500)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 1_000_000
    assert held / len(seen) < 25, f"{held / len(seen):.0f} bytes an id"
    assert peak / len(seen) < 60, f"peak {peak / len(seen):.0f} bytes an id"


def test_many_partitions_windows_hold_few_ids_as_python_ints() -> None:
    # A worker holds one window per partition (25). An overload spread over all of them left
    # each window just under the old merge point (32,768 ids), so about 80 MB of ids sat in
    # dicts at about 120 bytes an id; the dict of every window is now bounded by 4,096 ids.
    rng = random.Random(7)
    tracemalloc.start()
    try:
        windows = [SeenIds() for _ in range(25)]
        for seen in windows:
            offer_in_batches(seen, [rng.getrandbits(63) for _ in range(30_000)], 50)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = sum(len(seen) for seen in windows)
    assert total == 25 * 30_000
    assert held / total < 40, f"{held / total:.0f} bytes an id"
