"""The stand-ins' one bounded wait: until a condition holds, woken by an event each change sets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable


async def wait_for_change(condition: Callable[[], bool], changed: asyncio.Event, *, within: float, what: str) -> None:
    """Return once `condition()` holds; TimeoutError naming `what` after `within` seconds.

    Re-checked on every `changed.set()` and at least every 50 ms (a change may not set it)."""
    deadline = time.monotonic() + within
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what} did not see what was expected in time")
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=min(remaining, 0.05))
