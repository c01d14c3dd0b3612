"""Mergeable latency histograms: fixed bucket bounds, counts that add, quantiles by interpolation.

Percentiles are never averaged: minute histograms are summed (in Python or with the SQL aggregate
`hist_merge`) and the quantile is read from the sum. The SQL function `histogram_quantile` in the
migrations uses the same bounds; a test checks that both agree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Upper bounds in milliseconds; the last bucket is open (values above 30 s, i.e. timeouts).
BOUNDS_MS: tuple[int, ...] = (
    10, 20, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 30_000,
)  # fmt: skip
BUCKETS = len(BOUNDS_MS) + 1


def empty() -> list[int]:
    return [0] * BUCKETS


def bucket_of(value_ms: float) -> int:
    """The index of the bucket holding `value_ms` (bounds are inclusive upper bounds)."""
    return bisect_left(BOUNDS_MS, value_ms)


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = empty()
    for histogram in histograms:
        for index, count in enumerate(histogram):
            total[index] += count
    return total


def quantile(histogram: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1), interpolated linearly inside its bucket; None for no data.

    The open last bucket reports its lower bound: a p99 in it reads "over 30 s".
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0 if index == 0 else BOUNDS_MS[index - 1]
            if index >= len(BOUNDS_MS):
                return float(lower)
            upper = BOUNDS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(BOUNDS_MS[-1])
