"""The heap is trimmed once, on the first idle flush after a burst, never in the middle of one."""

from __future__ import annotations

import sys

import pytest

from streams.heap import HeapTrimmer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")
def test_the_c_library_trim_is_found_and_callable_on_linux() -> None:
    trimmer = HeapTrimmer(after_events=1)
    assert trimmer.available
    trimmer.flushed(1)
    assert trimmer.flushed(0) is True and trimmer.trims == 1


def test_trims_once_after_a_burst_when_a_flush_finds_nothing() -> None:
    trimmer = HeapTrimmer(after_events=1_000)
    trimmer.available = True
    calls: list[int] = []

    def trim(pad: int) -> int:  # counts calls, whatever the platform
        calls.append(pad)
        return 1

    trimmer._trim = trim
    assert [trimmer.flushed(n) for n in (400, 0, 700)] == [False, False, False]  # 400 < 1,000
    assert trimmer.flushed(0) is True and calls == [0]  # 1,100 written, then idle
    assert trimmer.flushed(0) is False  # idle again: nothing new to give back
    for _ in range(10):
        assert trimmer.flushed(5_000) is False  # busy flushes never trim
    assert trimmer.flushed(0) is True and calls == [0, 0] and trimmer.trims == 2


def test_without_malloc_trim_nothing_is_called() -> None:
    trimmer = HeapTrimmer(after_events=1)
    trimmer._trim = None
    trimmer.flushed(10)
    assert trimmer.flushed(0) is False and trimmer.trims == 0
