"""Waiting for something another task does: poll, bounded in count and in time.

`until` fails the test saying what was not reached; `reached` answers True/False for a test
that asserts with its own message (computed only when it fails). `stopping` ends a background
loop after the test's body without hiding the body's own failure.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

Condition = Callable[[], bool | Awaitable[bool]]


async def reached(condition: Condition, *, within: float, step: float = 0.05) -> bool:
    """Whether `condition()` (plain or awaitable) became true within `within` seconds."""
    deadline = time.monotonic() + within
    for _ in range(int(within / step) + 1):
        answer = condition()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return True
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(step)
    return False


async def until(condition: Condition, *, within: float, what: str = "the condition", step: float = 0.05) -> None:
    """Return once `condition()` is true; raise AssertionError after `within` seconds."""
    if not await reached(condition, within=within, step=step):
        raise AssertionError(f"not reached within {within} s: {what}")


@asynccontextmanager
async def stopping(task: asyncio.Task[Any], stop: asyncio.Event, *, within: float) -> AsyncIterator[None]:
    """Run the block, then set `stop` and wait up to `within` s for `task` to end.

    When the block passed, the task's own error or its not ending in time fails the test. When
    the block failed, that failure is the one reported: the task is given the same time, then
    cancelled, and whatever it raised is only read (a `finally` that waits with `wait_for` would
    replace the first error with a TimeoutError ten seconds later).
    """
    try:
        yield
    except BaseException:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=within)
        if task.done() and not task.cancelled():
            task.exception()  # read, so asyncio does not log it as never retrieved
        raise
    stop.set()
    await asyncio.wait_for(task, timeout=within)
