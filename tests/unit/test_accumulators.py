"""Each feed's accumulator adds exactly what its contribution and the row adder would.

The worker runs `ACCUMULATORS`; NDXP's and dossiers' are written out by hand for speed, so they
are held here to `CONTRIBUTIONS` (the readable definition) on a simulated day of every feed and
on the edge cases a day may not hold: late and on-time completions, histogram bucket bounds,
zero and maximal values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import DossierEvent, Event, NdxpTransaction
from govpulse.events.dossier import DossierStatus
from govpulse.fast_contracts import fast_validator
from streams.measures import ACCUMULATORS, CONTRIBUTIONS, accumulator_from

START = local_day(2024, 10, 1).replace(hour=7)


def simulated(name: str) -> list[Event]:
    """A day of the feed: at a small scale for the busy feeds, in full for the rare ones."""
    busy = name in ("ndxp.transactions", "portal.dossiers", "portal.payments")
    config = SimulationConfig(seed=31, scale=0.02 if busy else 1.0, feeds=(name,))
    return [event for _, event in simulate(config, START, START + timedelta(hours=24))]


def edge_cases(name: str, events: list[Event]) -> list[Event]:
    """Variations of the feed's first event at the boundaries its accumulator decides on."""
    first = events[0]
    if isinstance(first, NdxpTransaction):
        latencies = {0, 1, 600_000, *histogram.BOUNDS_MS, *(b + 1 for b in histogram.BOUNDS_MS)}
        return [first.model_copy(update={"latency_ms": ms, "bytes": ms * 3}) for ms in latencies]
    if isinstance(first, DossierEvent):
        at = first.occurred_at
        variants = [
            {**first.model_dump(), "status": status, "due_at": at + timedelta(seconds=shift),
             "submitted_at": at if status is DossierStatus.SUBMITTED else at - timedelta(hours=1),
             "fee_vnd": fee, "digitised": flag, "data_reused": not flag}
            for status in DossierStatus
            for shift in (-1, 0, 1)
            for fee in (0, 10_000_000_000)
            for flag in (True, False)
        ]  # fmt: skip
        valid: list[DossierEvent] = []
        for variant in variants:
            try:
                valid.append(DossierEvent.model_validate(variant))
            except ValueError:
                continue  # a combination the contract refuses (it never reaches the worker)
        completed = [e for e in valid if e.status is DossierStatus.COMPLETED]
        assert {e.occurred_at <= e.due_at for e in completed} == {True, False}
        return list(valid)
    return []


def accumulated(accumulate: Any, events: list[Event], as_worker: bool) -> dict[Any, list[Any]]:
    rows: dict[Any, list[Any]] = {}
    validate = fast_validator(type(events[0])) if events else None
    for index, event in enumerate(events):
        if as_worker and validate is not None:
            # The worker holds the derived msgspec structs, not the models.
            event = validate(event.model_dump_json().encode())
        accumulate(rows, 28_000_000 + index % 7, event)
    return rows


@pytest.mark.parametrize("name", sorted(AGGREGATE_TABLES))
def test_the_accumulator_adds_what_the_contribution_says(name: str) -> None:
    events = simulated(name)
    assert events, f"the simulated day holds no {name} events"
    events = events + edge_cases(name, events)
    reference = accumulated(accumulator_from(CONTRIBUTIONS[name], name), events, as_worker=False)
    for as_worker in (False, True):
        assert accumulated(ACCUMULATORS[name], events, as_worker) == reference
    table = AGGREGATE_TABLES[name]
    width = len(table.measures)
    rows = accumulated(ACCUMULATORS[name], events, as_worker=True)
    # Every value is an int (the COPY encoder packs int8), and no two rows share a histogram.
    assert all(type(v) is int for row in rows.values() for v in row[:width])
    lists = [id(h) for row in rows.values() for h in row[width:]]
    assert len(lists) == len(set(lists))
