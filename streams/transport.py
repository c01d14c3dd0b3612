"""faust's aiokafka transport with the fetch wait the worker asks for, and deliveries without tasks.

faust builds its consumer with `fetch_max_wait_ms=1500`, fixed. The wait only matters when a
fetch finds nothing new: Apache Kafka then answers as soon as data arrives, but a broker that
holds the request for the whole wait (the embedded Tansu does) delays every record produced
meanwhile by up to that long. At 10k events/s that was most of the delay before the dashboards
saw an event (docs/performance.md, "Fetch wait"). A shorter wait costs one more empty fetch per
wait on an idle worker.

faust's fetcher hands every message to the streams through `Service.wait_first(delivery,
suspend_flow.wait())`, which runs each waitable as a task (four with the service's own stop
and crash events) and waits for the first: about a fifth of a worker's CPU that only fetches
and acknowledges (docs/performance.md, tenth session). A delivery almost always finishes
without waiting (the stream's buffer has room), so the consumer starts it in place and only a
delivery that has to wait goes on as a task raced against the rest, as before.

faust also waits up to a second for records of the partitions that are active when it asks (a
partition whose stream buffer is full is not): one resumed meanwhile waits with it. The
consumer asks again every 100 ms instead (`PromptConsumer._wait_next_records`).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from inspect import iscoroutine
from typing import Any, TypeVar, cast

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import Service, WaitArgT, WaitResults
from mode.utils.times import Seconds

T = TypeVar("T")

# How long the fetcher waits for records of the partitions it reads before asking again with
# the ones resumed meanwhile (faust: one second; see PromptConsumer._wait_next_records).
RECORDS_WAIT_S = 0.1


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], blocked_on: Any) -> Generator[Any, None, T]:
    """Drive `coro` on from where it first waited: `blocked_on` is what it yielded then.

    What `yield from coro` does, for a coroutine already started: the task running this waits
    for what `coro` yields, and whatever the task throws in (a cancellation) goes into `coro`.
    """
    while True:
        try:
            yield blocked_on
        except BaseException as thrown:
            try:
                blocked_on = coro.throw(thrown)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
            continue
        try:
            blocked_on = coro.send(None)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]


async def resume(coro: Coroutine[Any, Any, T], blocked_on: Any) -> T:
    """`_resume` as a native coroutine (mode awaits only what is `Awaitable`)."""
    return await _resume(coro, blocked_on)


async def start_in_place(coro: Coroutine[Any, Any, T]) -> tuple[bool, T | Coroutine[Any, Any, T]]:
    """Run `coro` until it finishes or first waits: (True, its result) or (False, the rest)."""
    try:
        blocked_on = coro.send(None)
    except StopIteration as finished:
        return True, finished.value
    return False, resume(coro, blocked_on)


class PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher when the consumer starts, which is after this
        # returns (AIOKafkaConsumerThread.on_start); tests/integration/test_transport.py checks
        # the fetcher of a running worker holds it, so an aiokafka upgrade that moves it fails.
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class StartsInPlace(Service):
    """A mode service whose `wait_first` finishes a first coroutine in place when it can."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        """mode's `wait_first`, except that a first waitable which is a coroutine finishing
        without waiting wins at once, with no tasks (faust's fetcher calls this per message)."""
        first = coros[0] if coros else None
        if iscoroutine(first) and not (self._stopped.is_set() or self._crashed.is_set()):
            finished, outcome = await start_in_place(first)
            if finished:
                for other in coros[1:]:
                    if iscoroutine(other):
                        other.close()  # never started: mode would have cancelled its task
                if self._stopped.is_set() or self._crashed.is_set():  # it stopped the service
                    return WaitResults([], [], True)
                # One turn of the loop, as the tasks took: the stream takes the message before
                # the next is delivered, so its buffer does not fill and pause the partition.
                await asyncio.sleep(0)
                return WaitResults([first], [outcome], False)
            results = await super().wait_first(outcome, *coros[1:], timeout=cast(Seconds, timeout))
            # The caller knows the coroutine it passed, not the one finishing it.
            done = [first if winner is outcome else winner for winner in results.done]
            return WaitResults(done, results.results, results.stopped)
        return await super().wait_first(*coros, timeout=cast(Seconds, timeout))


class PromptConsumer(StartsInPlace, faust_aiokafka.Consumer):
    async def _wait_next_records(self, timeout: float) -> Any:
        """faust's wait for the next records, for at most `RECORDS_WAIT_S` instead of a second.

        faust waits for records of the partitions active when it asks, and sleeps a whole
        second when none is. A partition whose stream buffer filled is not active; when its
        agent drains it, it is active again, but not in a wait already under way. With the
        backlog left in a few partitions (a replay's last partitions, a hot agency's), each
        such wait delayed their records by up to a second: a fifth of the bench's pipeline
        stage (docs/performance.md, eighteenth session).
        """
        if not self.app.client_only and self.flow_active and not self._get_active_partitions():
            await self.sleep(RECORDS_WAIT_S)
            return {}, set()
        return await super()._wait_next_records(min(timeout, RECORDS_WAIT_S))

    def _new_consumer_thread(self) -> PromptConsumerThread:
        return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class PromptTransport(faust_aiokafka.Transport):
    Consumer = PromptConsumer

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms


def use_prompt_transport(app: Any, fetch_max_wait_ms: int) -> None:
    """Give `app` (not yet started) a consumer transport that waits at most this long per fetch."""
    app.transport = PromptTransport(
        app.conf.broker_consumer, app, fetch_max_wait_ms=fetch_max_wait_ms
    )
