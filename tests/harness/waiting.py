"""Waiting for something another task does: poll, bounded in count and in time.

`until` fails the test saying what was not reached; `reached` answers True/False for a test
that asserts with its own message (computed only when it fails).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

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
