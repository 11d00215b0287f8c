"""Republishing App Home when something on it changed: debounced per person, within Slack's limits.

Whoever opened App Home in this process is registered here (`opened`, which publishes at once).
The notification loop (bot/notifier.py) says `changed(organisation_id)` after every post it makes:
every state change that reaches Slack (an approval asked or decided, a send's status, a bounce's
alert) goes through it, so that is the one place App Home hears of changes. A change marks that
organisation's viewers dirty; `publish_due` republishes a dirty view at most once per
`min_interval` seconds per person (a burst of changes costs one `views.publish`), and at most
`per_minute` publishes in all (`views.publish` is Tier 4, ~100 a minute per workspace).

The register lives in memory: a person who has not opened App Home since this process started is
not republished (their next visit publishes a fresh view), and a process that posts notifications
but serves no Slack requests (a lone worker) registers nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("invoicebot.home")

DEFAULT_MIN_INTERVAL = 10.0
DEFAULT_PER_MINUTE = 60
TICK_SECONDS = 1.0
S = TypeVar("S")


@dataclass
class _Viewer(Generic[S]):
    subject: S
    published_at: float
    dirty: bool = False


class HomeViewers(Generic[S]):
    """Open App Homes by (organisation, user), and which of them are owed a republish."""

    def __init__(
        self,
        publish: Callable[[S], Awaitable[None]],
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        per_minute: int = DEFAULT_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self.min_interval = min_interval
        self.per_minute = per_minute
        self._clock = clock
        self._viewers: dict[tuple[int, str], _Viewer[S]] = {}
        self._recent: deque[float] = deque()  # when the publishes of the last minute were made

    async def opened(self, organisation_id: int, user_id: str, subject: S) -> None:
        """The person opened App Home: publish now and keep them registered for later changes."""
        now = self._clock()
        self._viewers[(organisation_id, user_id)] = _Viewer(subject, published_at=now)
        self._recent.append(now)
        await self._publish(subject)

    def changed(self, organisation_id: int) -> None:
        """Something an App Home of this organisation shows changed: owe its viewers a republish."""
        for (organisation, _), viewer in self._viewers.items():
            if organisation == organisation_id:
                viewer.dirty = True

    def owed(self) -> list[tuple[int, str]]:
        """Who is owed a republish (dirty), whether or not their debounce allows it yet."""
        return [key for key, viewer in self._viewers.items() if viewer.dirty]

    async def publish_due(self) -> int:
        """Republish each dirty view whose last publish is `min_interval` old, within the rate budget."""
        now = self._clock()
        while self._recent and self._recent[0] <= now - 60:
            self._recent.popleft()
        published = 0
        for key, viewer in list(self._viewers.items()):
            if not viewer.dirty or now - viewer.published_at < self.min_interval:
                continue
            if len(self._recent) >= self.per_minute:
                break  # the rest wait for the next minute, still dirty
            viewer.dirty, viewer.published_at = False, now
            self._recent.append(now)
            try:
                await self._publish(viewer.subject)
            except Exception:
                viewer.dirty = True  # tried again at the next tick after the interval
                log.warning("App Home of %s not republished; retrying later", key[1], exc_info=True)
                continue
            published += 1
        return published

    async def run(self, stop: asyncio.Event) -> None:
        """Publish what is due every tick until `stop` is set."""
        while not stop.is_set():
            await self.publish_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
