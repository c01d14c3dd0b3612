"""The worker's consumer asks for records again every `RECORDS_WAIT_S`, not every second.

faust waits up to a second for records of the partitions active when it asks, and sleeps a
second when none is; a partition resumed meanwhile (its stream buffer drained) waited with it
(streams/transport.py). The consumer here is the one `build_app` gives a worker; what faust
hands its fetcher thread is caught where faust calls it (`_getmany`), so no broker is needed:
what the shorter wait buys end to end is measured by `govpulse bench` (docs/performance.md,
eighteenth session).
"""

from __future__ import annotations

import time
from typing import Any

from faust.types import TP

from govpulse.settings import Settings
from streams.pipeline import build_app
from streams.transport import RECORDS_WAIT_S, PromptConsumer

FAUST_WAIT_S = 1.0  # what faust's fetcher passes (faust.transport.consumer, Consumer.getmany)


def worker_consumer() -> Any:
    consumer = build_app(Settings(namespace="records_wait"), probe_broker=False).app.consumer
    assert isinstance(consumer, PromptConsumer)
    return consumer


def test_the_wait_for_records_of_active_partitions_is_cut_to_the_consumers() -> None:
    consumer = worker_consumer()
    active = {TP("records_wait.ndxp.transactions", 3)}
    asked: list[tuple[set[TP], float]] = []

    async def getmany(active_partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:
        asked.append((set(active_partitions), timeout))
        return {}

    consumer._getmany = getmany
    consumer._set_active_tps(active)
    records, read = consumer.loop.run_until_complete(consumer._wait_next_records(FAUST_WAIT_S))
    assert records == {} and read == active
    assert asked == [(active, RECORDS_WAIT_S)]


def test_with_every_partition_paused_the_consumer_asks_again_within_its_wait() -> None:
    consumer = worker_consumer()
    consumer._set_active_tps(set())  # every stream buffer full: nothing to ask for

    async def wait() -> tuple[Any, float]:
        started = time.monotonic()
        outcome = await consumer._wait_next_records(FAUST_WAIT_S)
        return outcome, time.monotonic() - started

    # On the consumer's own loop, as in a worker: mode's sleep also waits for the service's stop.
    (records, read), took = consumer.loop.run_until_complete(wait())
    assert records == {} and read == set()
    # faust sleeps the whole second here; the margin is for a slow machine, not for faust.
    assert RECORDS_WAIT_S * 0.9 <= took < FAUST_WAIT_S / 2
