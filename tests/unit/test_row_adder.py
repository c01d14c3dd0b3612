"""The unrolled row adder adds exactly what the plain loops over a contribution would."""

from __future__ import annotations

import random
from typing import Any

import pytest

from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES
from streams.measures import Contribution, row_adder


def _reference_add(rows: dict[Any, list[Any]], key: Any, part: Contribution, width: int) -> None:
    row = rows.get(key)
    if row is None:
        row = rows[key] = [0] * width + [histogram.empty() for _ in part.histogram_values]
    for position, amount in enumerate(part.measures):
        row[position] += amount
    for position, sample in enumerate(part.histogram_values):
        if sample is not None:
            row[width + position][histogram.bucket_of(sample)] += 1


@pytest.mark.parametrize("feed", sorted(AGGREGATE_TABLES))
def test_unrolled_adder_equals_the_loops(feed: str) -> None:
    table = AGGREGATE_TABLES[feed]
    width, hists = len(table.measures), len(table.histograms)
    add = row_adder(width, hists)
    rng = random.Random(feed)
    ours: dict[Any, list[Any]] = {}
    reference: dict[Any, list[Any]] = {}
    for _ in range(5_000):
        key = (rng.randrange(5), "HNI", rng.choice("abc"))
        part = Contribution(
            ("x",),
            tuple(rng.randrange(-5, 10**9) for _ in range(width)),
            tuple(
                rng.choice([None, 0.0, 10.0, 10.5, 30_000.0, 1e9, rng.uniform(0, 40_000)])
                for _ in range(hists)
            ),
        )
        add(ours, key, part)
        _reference_add(reference, key, part, width)
    assert ours == reference
    # Rows never share a histogram list: adding into one must not change another.
    lists = [id(value) for row in ours.values() for value in row[width:]]
    assert len(lists) == len(set(lists))
