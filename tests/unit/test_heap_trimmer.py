"""The worker gives freed heap memory back now and then, never on every flush."""

from __future__ import annotations

import pytest

from streams.heap import HeapTrimmer, glibc_malloc_trim


class CountingTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def test_while_records_keep_coming_it_trims_once_a_minute() -> None:
    trim = CountingTrim()
    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=trim, now=1_000.0)
    # Flushes four times a second, every one with records to write.
    flushes = (1_000.0 + i * 0.25 for i in range(4 * 150))
    assert [t for t in flushes if heap.after_flush(t, wrote=True)] == [1_060.0, 1_120.0]
    assert trim.calls == [0, 0] and heap.trims == 2


def test_once_the_work_is_done_it_trims_within_seconds_then_rests() -> None:
    trim = CountingTrim()
    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=trim, now=0.0)
    busy = [heap.after_flush(t / 4, wrote=True) for t in range(4 * 20)]  # 20 s of a burst
    idle = [t / 4 for t in range(80, 4 * 200) if heap.after_flush(t / 4, wrote=False)]
    assert not any(busy)
    assert idle == [20.0]  # the first empty flush: 20 s since the start, more than 5
    # A trickle after it: a record 2 s later, then empty flushes; the next trim 5 s after the last.
    assert not heap.after_flush(22.0, wrote=True)
    empty = [t / 4 for t in range(89, 4 * 120) if heap.after_flush(t / 4, wrote=False)]
    assert empty == [25.0]
    assert heap.trims == 2


def test_an_idle_worker_never_trims() -> None:
    trim = CountingTrim()
    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=trim, now=0.0)
    assert not any(heap.after_flush(t / 4, wrote=False) for t in range(4 * 600))
    assert trim.calls == []


def test_without_malloc_trim_it_does_nothing() -> None:
    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=None, now=0.0)
    heap.after_flush(100.0, wrote=True)
    assert not heap.after_flush(200.0, wrote=False) and heap.trims == 0


def test_the_periods_must_be_ordered_and_positive() -> None:
    with pytest.raises(ValueError, match="idle_after_s"):
        HeapTrimmer(busy_every_s=5, idle_after_s=60, trim=None, now=0.0)
    with pytest.raises(ValueError, match="idle_after_s"):
        HeapTrimmer(busy_every_s=5, idle_after_s=0, trim=None, now=0.0)


def test_this_machine_has_glibc_malloc_trim_and_it_releases_free_pages() -> None:
    # Debian (CI and the Docker image) runs on glibc: the worker must get the real function.
    trim = glibc_malloc_trim()
    assert trim is not None
    # Free pages below live ones stay mapped until trimmed: 1 means some went back.
    blocks = [bytearray(4_000) for _ in range(20_000)]
    kept = blocks[::10]
    del blocks
    assert trim(0) == 1
    assert len(kept) == 2_000


def test_the_idle_trim_settles_first_and_a_busy_one_never_does() -> None:
    order: list[str] = []

    def trim(pad: int) -> int:
        order.append("trim")
        return 1

    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=trim, now=0.0,
                       settle=lambda: order.append("settle"))  # fmt: skip
    assert heap.after_flush(60.0, wrote=True)  # busy: a trim alone
    assert order == ["trim"]
    assert not heap.after_flush(61.0, wrote=True)
    assert not heap.after_flush(62.0, wrote=False)  # idle, but 2 s after the last trim
    assert heap.after_flush(65.0, wrote=False)
    assert order == ["trim", "settle", "trim"] and heap.settles == 1
    assert not heap.after_flush(200.0, wrote=False)  # nothing written since: it rests


def test_without_malloc_trim_the_idle_settle_still_runs() -> None:
    settled: list[float] = []
    heap = HeapTrimmer(busy_every_s=60, idle_after_s=5, trim=None, now=0.0,
                       settle=lambda: settled.append(1.0))  # fmt: skip
    assert not heap.after_flush(100.0, wrote=True)  # busy: nothing to do without a trim
    assert not heap.after_flush(106.0, wrote=False)
    assert settled == [1.0] and heap.settles == 1 and heap.trims == 0
