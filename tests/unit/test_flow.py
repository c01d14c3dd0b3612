"""Flow control: the agents' allowance, and when a flush is due."""

from __future__ import annotations

import asyncio
import time

from streams.flow import FlowControl


def test_a_flush_is_due_once_half_the_allowance_waits_for_one() -> None:
    async def scenario() -> tuple[float, float]:
        flow = FlowControl(max_pending_events=1_000)
        flow.added(499)
        started = time.monotonic()
        await flow.until_flush_due(0.05)  # not yet due: the timeout ends the wait
        timed_out = time.monotonic() - started
        flow.added(1)
        started = time.monotonic()
        await flow.until_flush_due(10.0)  # due: returns at once
        return timed_out, time.monotonic() - started

    timed_out, due = asyncio.run(scenario())
    assert timed_out >= 0.05
    assert due < 1.0


def test_what_a_flush_writes_does_not_count_towards_the_next() -> None:
    async def scenario() -> list[bool]:
        flow = FlowControl(max_pending_events=1_000)
        flow.added(600)
        seen = [flow.flush_is_due]
        flow.flushing(600)  # taken: in memory until written, not waiting for a flush
        seen.append(flow.flush_is_due)
        flow.added(499)
        seen.append(flow.flush_is_due)
        flow.added(1)  # 500 new ones wait while the 600 are written
        seen.append(flow.flush_is_due)
        return seen

    assert asyncio.run(scenario()) == [True, False, False, True]


def test_the_agents_wait_for_room_counting_what_is_being_written() -> None:
    async def scenario() -> tuple[bool, bool]:
        flow = FlowControl(max_pending_events=1_000)
        flow.added(600)
        flow.flushing(600)
        flow.added(400)  # 600 being written and 400 new: the allowance is used up
        waiter = asyncio.ensure_future(flow.wait_for_room())
        await asyncio.sleep(0.01)
        blocked = not waiter.done()
        flow.flushed(400)  # the 600 are written; 400 wait for the next flush
        await asyncio.wait_for(waiter, 1.0)
        return blocked, flow.flush_is_due

    blocked, due = asyncio.run(scenario())
    assert blocked
    assert not due  # 400 is less than half the allowance


def test_a_flush_given_back_leaves_its_events_due_again() -> None:
    flow = FlowControl(max_pending_events=1_000)
    flow.added(700)
    flow.flushing(700)
    flow.flushed(700)  # the database refused: all 700 still wait
    assert flow.pending == 700 and flow.in_flight == 0
    assert flow.flush_is_due
