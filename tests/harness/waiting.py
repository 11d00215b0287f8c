"""Waiting for something another task does: poll, bounded in count and in time, then fail saying what."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float, what: str = "the condition", step: float = 0.05
) -> None:
    """Return once `condition()` (plain or awaitable) is true; raise AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    for _ in range(int(within / step) + 1):
        reached = condition()
        if inspect.isawaitable(reached):
            reached = await reached
        if reached:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(step)
    raise AssertionError(f"not reached within {within} s: {what}")
