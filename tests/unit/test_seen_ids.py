"""The counted-id window (`streams.dedupe.SeenIds`) against a plain dict model of its contract."""

from __future__ import annotations

import random
from array import array

from streams.dedupe import CONFLICT, DUPLICATE, Seen, SeenIds, pack, unpack

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


def test_many_ids_over_a_sliding_window_behave_as_the_model() -> None:
    # Enough ids to grow the table several times and shrink it again; some digests share their
    # low bits, some are repeated with the same or other content, the horizon moves as it runs.
    rng = random.Random(12)
    seen, model = SeenIds(), Model()
    recent: list[tuple[int, int, int]] = []
    for minute in range(MINUTE, MINUTE + 40):
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
            assert seen.offer(digest, content, at) == model.offer(digest, content, at)
        assert seen.evict_before(minute - 10) == model.evict_before(minute - 10)
        assert len(seen) == len(model.entries)
        recent = recent[-5_000:]
    for digest, value in model.entries.items():
        assert seen.check(digest, value >> 32) is Seen.DUPLICATE
    assert seen.evict_before(MINUTE + 100) == len(model.entries)
    assert len(seen) == 0
    assert all(seen.check(digest, 0) is Seen.NEW for digest, _, _ in recent)
