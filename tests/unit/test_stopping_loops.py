"""`stopping` (tests/harness/waiting.py) ends a test's background loop without hiding the test's own failure.

A `finally` that waits for the loop with `wait_for` turned a failed assertion into a TimeoutError
ten seconds later whenever the loop was stuck; the first failure is the one to read.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.waiting import stopping


async def _stuck(stop: asyncio.Event) -> None:
    """A loop that does not hear its stop."""
    await asyncio.sleep(3600)


async def _stops(stop: asyncio.Event) -> None:
    await stop.wait()


async def _crashes(stop: asyncio.Event) -> None:
    await stop.wait()
    raise RuntimeError("the loop broke")


async def test_the_bodys_failure_is_reported_even_when_the_loop_does_not_stop() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_stuck(stop))
    with pytest.raises(AssertionError, match="the first failure"):
        async with stopping(task, stop, within=0.05):
            raise AssertionError("the first failure")
    assert stop.is_set() and task.cancelled()


async def test_the_bodys_failure_is_reported_even_when_the_loop_crashes_on_stop() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_crashes(stop))
    with pytest.raises(AssertionError, match="the first failure"):
        async with stopping(task, stop, within=1.0):
            raise AssertionError("the first failure")
    assert task.done()


async def test_after_a_passing_body_a_loop_that_does_not_stop_fails_the_test() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_stuck(stop))
    with pytest.raises(TimeoutError):
        async with stopping(task, stop, within=0.05):
            pass
    assert task.cancelled()


async def test_after_a_passing_body_the_loops_own_error_fails_the_test() -> None:
    stop = asyncio.Event()
    with pytest.raises(RuntimeError, match="the loop broke"):
        async with stopping(asyncio.create_task(_crashes(stop)), stop, within=1.0):
            pass


async def test_a_loop_that_stops_ends_quietly() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_stops(stop))
    async with stopping(task, stop, within=1.0):
        assert not task.done()
    assert task.done() and task.exception() is None
