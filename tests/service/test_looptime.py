"""`LoopTimer` counts a coroutine's own time on the loop: not its waits, not the queue."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Generator

import pytest

from linker.ops.looptime import LoopTimer


def busy(seconds: float) -> None:
    """Hold the loop for `seconds` of CPU, as a step's crypto would."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def work_between_waits(rounds: int, busy_s: float, wait_s: float) -> str:
    for _ in range(rounds):
        busy(busy_s)
        await asyncio.sleep(wait_s)
    return "done"


async def test_loop_time_is_the_busy_time_not_the_waits() -> None:
    timer = LoopTimer(work_between_waits(rounds=4, busy_s=0.005, wait_s=0.05))
    began = time.perf_counter()
    assert await timer == "done"
    wall = time.perf_counter() - began
    # 20 ms busy, 200 ms asleep: generous bounds, the machine is shared.
    assert wall >= 0.2
    assert 0.015 <= timer.seconds <= 0.1


async def test_time_queued_behind_other_tasks_is_not_counted() -> None:
    async def hog() -> None:
        busy(0.15)  # another request holding the loop

    async def quick() -> None:
        await asyncio.sleep(0)  # lets the hog run: the rest waits its turn behind it
        busy(0.002)

    timer = LoopTimer(quick())
    began = time.perf_counter()
    await asyncio.gather(timer, hog())
    assert time.perf_counter() - began >= 0.15
    assert 0.0015 <= timer.seconds <= 0.1


async def test_time_the_thread_spends_off_the_cpu_is_not_counted() -> None:
    async def preempted() -> None:
        busy(0.005)
        # As if the OS ran another process for 100 ms in the middle of a step.
        time.sleep(0.1)  # noqa: ASYNC251 (the point: the thread is off the CPU, not awaiting)
        busy(0.005)

    timer = LoopTimer(preempted())
    await timer
    assert 0.009 <= timer.seconds <= 0.05


async def test_an_exception_propagates_and_its_time_counts() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        busy(0.005)
        raise ValueError("bad step")

    timer = LoopTimer(fails())
    with pytest.raises(ValueError, match="bad step"):
        await timer
    assert timer.seconds >= 0.004


async def test_cancellation_reaches_the_coroutine_and_propagates() -> None:
    seen: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("cleaned up")

    async def timed() -> None:
        await LoopTimer(waits())

    task = asyncio.create_task(timed())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert seen == ["cancelled", "cleaned up"]


async def test_a_coroutine_may_handle_its_cancellation_and_answer() -> None:
    async def answers_anyway() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # still awaits: the timer keeps driving it
            return "stopped cleanly"
        return "slept"

    async def timed() -> str:
        return await LoopTimer(answers_anyway())

    task = asyncio.create_task(timed())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task == "stopped cleanly"


def test_closing_the_awaiting_side_closes_the_coroutine() -> None:
    closed: list[bool] = []

    async def step() -> None:
        try:
            await asyncio.sleep(0)  # suspends without needing a loop
            await asyncio.sleep(0)
        finally:
            closed.append(True)

    inner = step()
    steps = LoopTimer(inner).__await__()
    assert steps.send(None) is None
    steps.close()
    assert closed == [True]
    assert inspect.getcoroutinestate(inner) == "CORO_CLOSED"  # not left suspended


def test_values_sent_in_reach_the_coroutine() -> None:
    class Handoff:
        def __await__(self) -> Generator[str, object, object]:
            return (yield "waiting")

    async def receives() -> object:
        return await Handoff()

    steps = LoopTimer(receives()).__await__()
    assert steps.send(None) == "waiting"
    with pytest.raises(StopIteration) as done:
        steps.send("the value")
    assert done.value.value == "the value"
