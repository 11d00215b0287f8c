"""Recording link-page views and pixel opens off the request path.

The page a customer asked for is rendered from a read; whether the hit counts as a view
is decided and written afterwards by one background task fed through a bounded queue.
So a database that is write-locked (SQLite while another process writes, a long
migration) or slow never delays or fails the page: the view is late, or — when the write
still fails after the database's own busy timeout, or the queue is full — it is dropped
and logged. A view is a hint ("the customer looked"), never worth a customer's error page.

One consumer writes the hits in order, so two quick reloads of one visitor are judged one
after the other (the second is a repeat) instead of racing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tracking.page_views import Hit, ViewRules, file_invoice_view, file_pixel_open
from services.unit_of_work import units_over

log = logging.getLogger("invoicebot.view_recorder")

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]
DEFAULT_MAX_PENDING = 1000
_STOP_SECONDS = 5.0


@dataclass(frozen=True)
class PendingHit:
    """A hit waiting to be judged: on an invoice's page (`invoice_id`) or on a pixel (`verp_token`)."""

    hit: Hit
    at: datetime  # when the request came, not when it is written
    invoice_id: int | None = None
    verp_token: str | None = None


class ViewRecorder:
    """A bounded queue of hits and the one task that writes them (started on the first hit)."""

    def __init__(
        self,
        *,
        sessions: SessionOpener,
        rules: ViewRules,
        secret: bytes,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._units = units_over(sessions)
        self._rules = rules
        self._secret = secret
        self._queue: asyncio.Queue[PendingHit] = asyncio.Queue(maxsize=max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failed = 0

    def offer(self, pending: PendingHit) -> bool:
        """Queue a hit without waiting; False (and a log line) when the queue is full."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain_forever())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("view queue full: a page view was not recorded (%d dropped so far)", self.dropped)
            return False
        return True

    async def _drain_forever(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except Exception as error:  # a view that cannot be written is dropped, never raised
                self.failed += 1
                log.warning("a page view could not be recorded (%s): %s", type(error).__name__, error)
            finally:
                self._queue.task_done()

    async def _write(self, pending: PendingHit) -> None:
        if pending.invoice_id is not None:
            outcome = await file_invoice_view(
                self._units,
                invoice_id=pending.invoice_id,
                hit=pending.hit,
                now=pending.at,
                rules=self._rules,
                secret=self._secret,
            )
        else:
            outcome = await file_pixel_open(
                self._units,
                verp_token=pending.verp_token or "",
                hit=pending.hit,
                now=pending.at,
                rules=self._rules,
                secret=self._secret,
            )
        log.debug("hit: %s", outcome.verdict)

    async def drained(self) -> None:
        """Wait until every queued hit is written or dropped (tests, and a clean stop); bound it with a timeout."""
        await self._queue.join()

    async def aclose(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_SECONDS):
                await self.drained()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
