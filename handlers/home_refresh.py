"""Republishing App Home when something on it changed: debounced per person, within Slack's limits.

Who has App Home is in the database (services/home_viewers.py), written by whichever process
served their `app_home_opened`. The notification loop (bot/notifier.py) says
`changed(organisation_id)` after every post it makes; and every `poll_every` seconds `publish_due`
asks `changes` which organisations changed otherwise — any state change committed by any process
(a payment from the CLI, an import, a cancel: services/home_changes.py) or an organisation's local
midnight (bot/home_refresh.py). `publish_due` then reads that organisation's viewers from the database and republishes
each at most once per `min_interval` seconds per person (a burst of changes costs one
`views.publish`), and at most `per_minute` publishes in all (`views.publish` is Tier 4, ~100 a
minute per workspace). What a view shows is built at publish time (`publish`, bot/home_refresh.py):
the organisation's settings, day and workspace token as they are then, never a request's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence

log = logging.getLogger("invoicebot.home")

DEFAULT_MIN_INTERVAL = 10.0
DEFAULT_PER_MINUTE = 60
MAX_TRIES = 3  # a view that fails this often (workspace uninstalled, user gone) waits for the person's next visit
TICK_SECONDS = 1.0
POLL_SECONDS = 3.0  # how often the database is asked which organisations changed
# Publish one person's view: (organisation id, Slack user id).
Publish = Callable[[int, str], Awaitable[None]]
# The Slack users who have App Home in an organisation (the database's register).
Viewers = Callable[[int], Awaitable[Sequence[str]]]
# The organisations whose Homes changed since the last call (committed changes, a new local day).
Changes = Callable[[], Awaitable[Iterable[int]]]


class HomeViewers:
    """Which App Homes are owed a republish, and when each was last published by this process."""

    def __init__(
        self,
        publish: Publish,
        viewers: Viewers,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        per_minute: int = DEFAULT_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        changes: Changes | None = None,
    ) -> None:
        self._publish = publish
        self._viewers = viewers
        self._changes = changes
        self.poll_every = POLL_SECONDS
        self._polled_at: float | None = None
        self.min_interval = min_interval
        self.per_minute = per_minute
        self._clock = clock
        self._changed: set[int] = set()  # organisations whose viewers are still to be looked up
        self._owed: dict[tuple[int, str], int] = {}  # failed tries so far, in the order they became owed
        self._published_at: dict[tuple[int, str], float] = {}
        self._recent: deque[float] = deque()  # when the publishes of the last minute were made

    def published(self, organisation_id: int, user_id: str) -> None:
        """A view was just published (the person opened App Home here): debounce from now."""
        now = self._clock()
        self._forget_old(now)  # a process without a notifier never runs publish_due: keep it small here too
        self._published_at[(organisation_id, user_id)] = now
        self._recent.append(now)

    def changed(self, organisation_id: int) -> None:
        """Something an App Home of this organisation shows changed: owe its viewers a republish."""
        self._changed.add(organisation_id)

    def owed(self) -> list[tuple[int, str]]:
        """Who is owed a republish (as of the last lookup), whether or not their debounce allows it yet."""
        return list(self._owed)

    async def _poll(self, now: float) -> None:
        if self._changes is None or (self._polled_at is not None and now - self._polled_at < self.poll_every):
            return
        self._polled_at = now
        try:
            for organisation_id in await self._changes():
                self.changed(organisation_id)
        except Exception:
            log.warning("App Home changes not read; retrying", exc_info=True)

    async def _look_up(self) -> None:
        for organisation_id in sorted(self._changed):
            try:
                users = await self._viewers(organisation_id)
            except Exception:
                log.warning("App Home viewers of organisation %s not read; retrying", organisation_id, exc_info=True)
                continue
            self._changed.discard(organisation_id)
            for user_id in users:
                self._owed.setdefault((organisation_id, user_id), 0)

    def _forget_old(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - 60:
            self._recent.popleft()
        for key, at in list(self._published_at.items()):
            if now - at >= self.min_interval and key not in self._owed:
                del self._published_at[key]

    async def publish_due(self) -> int:
        """Republish each owed view whose last publish here is `min_interval` old, within the rate budget."""
        await self._poll(self._clock())
        await self._look_up()
        now = self._clock()
        self._forget_old(now)
        published = 0
        for key in list(self._owed):
            last = self._published_at.get(key)
            if last is not None and now - last < self.min_interval:
                continue
            if len(self._recent) >= self.per_minute:
                break  # the rest wait for the next minute, still owed
            tries = self._owed.pop(key) + 1
            self._published_at[key] = now
            self._recent.append(now)
            try:
                await self._publish(*key)
            except Exception:
                if tries < MAX_TRIES:
                    self._owed[key] = tries  # tried again at a tick after the interval
                log.warning("App Home of %s not republished (try %d of %d)", key[1], tries, MAX_TRIES, exc_info=True)
                continue
            published += 1
        return published

    async def run(self, stop: asyncio.Event) -> None:
        """Publish what is due every tick until `stop` is set."""
        while not stop.is_set():
            try:
                await self.publish_due()
            except Exception:  # a bug must not end the loop: the next tick tries again
                log.exception("App Home republishing failed a round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
