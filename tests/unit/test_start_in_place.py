"""Deliveries started in place (streams/transport.py): the same outcomes as tasks, fewer tasks."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Coroutine
from inspect import iscoroutine
from typing import Any, TypeVar, cast

import pytest
from mode import Service

from streams.transport import StartsInPlace, start_in_place

T = TypeVar("T")


class InPlace(StartsInPlace):
    """A bare mode service with the consumer's `wait_first`."""


async def blocked_rest(coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """Start `coro` in place, expecting it to wait; returns what finishes it."""
    finished, rest = await start_in_place(coro)
    assert not finished and iscoroutine(rest)
    return cast(Coroutine[Any, Any, T], rest)


async def tasks_now() -> int:
    return len(asyncio.all_tasks())


def test_a_coroutine_that_never_waits_finishes_without_a_task() -> None:
    async def main() -> None:
        before = await tasks_now()
        created: list[int] = []

        async def deliver() -> str:
            created.append(await tasks_now())
            return "delivered"

        finished, outcome = await start_in_place(deliver())
        assert (finished, outcome) == (True, "delivered")
        assert created == [before]  # ran in the caller's task, no new one

    asyncio.run(main())


def test_a_coroutine_that_waits_goes_on_from_where_it_waited() -> None:
    async def main() -> None:
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        steps: list[str] = []

        async def deliver() -> int:
            steps.append("before")
            value = await gate
            steps.append("after gate")
            await asyncio.sleep(0)  # a bare yield as well as a future
            steps.append("after sleep")
            return value * 2

        task = asyncio.ensure_future(await blocked_rest(deliver()))
        assert steps == ["before"]
        await asyncio.sleep(0)
        assert not task.done()
        gate.set_result(21)
        assert await task == 42
        assert steps == ["before", "after gate", "after sleep"]

    asyncio.run(main())


def test_errors_come_out_whether_raised_at_once_or_after_waiting() -> None:
    async def main() -> None:
        async def fails_at_once() -> None:
            raise ValueError("at once")

        with pytest.raises(ValueError, match="at once"):
            await start_in_place(fails_at_once())

        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def fails_later() -> None:
            await gate
            raise KeyError("later")

        task = asyncio.ensure_future(await blocked_rest(fails_later()))
        gate.set_exception(KeyError("later"))
        with pytest.raises(KeyError, match="later"):
            await task

    asyncio.run(main())


def test_a_cancelled_rest_cancels_the_coroutine_inside() -> None:
    async def main() -> None:
        seen: list[str] = []

        async def deliver() -> None:
            try:
                await asyncio.get_running_loop().create_future()  # never done
            except asyncio.CancelledError:
                seen.append("cancelled inside")
                raise

        task = asyncio.ensure_future(await blocked_rest(deliver()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["cancelled inside"]

    asyncio.run(main())


def test_a_coroutine_may_catch_the_cancellation_and_go_on() -> None:
    async def main() -> None:
        async def deliver() -> str:
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                await asyncio.sleep(0)
                return "cleaned up"
            return "not reached"

        task = asyncio.ensure_future(await blocked_rest(deliver()))
        await asyncio.sleep(0)
        task.cancel()
        assert await task == "cleaned up"

    asyncio.run(main())


def test_wait_first_answers_as_mode_does() -> None:
    async def main() -> None:
        service, plain = InPlace(), Service()

        async def quick() -> str:
            return "quick"

        for each in (service, plain):
            # A first coroutine that never waits wins, the event does not (and its coroutine is
            # closed, not left to the collector's "never awaited" warning, once per message).
            idle = asyncio.Event()
            first = quick()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results = await each.wait_first(first, idle.wait())
                gc.collect()
            assert not [w for w in caught if "never awaited" in str(w.message)]
            assert results.done == [first] and results.results == ["quick"]
            assert not results.stopped

        # One that waits is raced against the rest: the event that is set first wins.
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        flow = asyncio.Event()

        async def blocked() -> str:
            return await gate

        waiting = blocked()
        flow.set()
        results = await service.wait_first(waiting, flow.wait())
        assert results.results == [True] and not results.stopped
        # ... and when the coroutine finishes first, the caller sees its own coroutine win.
        gate2: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        never = asyncio.Event()

        async def released() -> str:
            return await gate2

        mine = released()
        asyncio.get_running_loop().call_soon(gate2.set_result, "released")
        results = await service.wait_first(mine, never.wait())
        assert results.done == [mine] and results.results == ["released"]

        # A stopped service answers "stopped", as mode does, whatever the coroutine.
        service._stopped.set()
        results = await service.wait_first(quick(), never.wait())
        assert results.stopped and results.done == []

    asyncio.run(main())


def test_the_worker_consumer_uses_it() -> None:
    from streams.transport import PromptConsumer

    assert issubclass(PromptConsumer, StartsInPlace)
    assert PromptConsumer.wait_first is StartsInPlace.wait_first
