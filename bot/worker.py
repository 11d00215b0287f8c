"""The send worker: drains the deliveries table, keeping rendering and sending both busy.

Up to `concurrency` deliveries are between claim and SMTP reply at once: while some render
in the render processes, others talk SMTP over the transport's pooled connections, and the
outcomes of finished ones are committed by the writer meanwhile. Claims are small batches,
so several workers (processes or machines) share one database fairly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.engine import engine_of
from services.db.models import utcnow
from services.email.transport import Transport
from services.sending.pipeline import PreparedSend, SenderIdentity, pool_renderer, prepare_sends, send_prepared
from services.sending.queue import RetryPolicy, recover_stale
from services.sending.render_pool import RenderPool
from services.sending.writer import GroupWriter

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        transport: Transport,
        identity: SenderIdentity,
        render_pool: RenderPool | None,
        retry: RetryPolicy | None = None,
        worker_id: str | None = None,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        stale_after: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.identity = identity
        self.render = pool_renderer(render_pool)
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.refill_at = max(1, concurrency // 2)
        self.poll_interval = poll_interval
        self.stale_after = stale_after
        self.clock = clock
        self.sent = 0
        # Claims, data-start marks and outcomes all go through one writer that group-commits
        # them: one writer per process is what SQLite wants, and fewer commits suit both.
        self.writer = GroupWriter(engine=engine_of(sessions), worker_id=self.worker_id, retry=self.retry, now=clock)

    async def _send(self, prepared: PreparedSend, slot: _Window.Slot) -> None:
        try:
            await send_prepared(
                prepared, transport=self.transport, render=self.render, writer=self.writer, on_sent=slot.release
            )
            self.sent += 1
        except Exception:
            # The row stays `sending` and stale recovery decides (requeue before DATA, else
            # unknown): an unexpected error must never turn into a silent resend.
            log.exception("delivery %s: unexpected error in the worker", prepared.delivery_id)
        finally:
            slot.release()  # no-op when on_sent already did

    async def _claim(self, limit: int) -> list[PreparedSend]:
        """Claim up to `limit` deliveries and load all they need in a few queries."""
        prepared: list[PreparedSend] = await self.writer.claim(
            limit, then=lambda session, ids: prepare_sends(session, delivery_ids=ids, identity=self.identity)
        )
        return prepared

    async def recover(self) -> tuple[int, int]:
        async with self.sessions() as session:
            requeued, unknown = await recover_stale(session, now=self.clock(), stale_after=self.stale_after)
        if requeued or unknown:
            log.warning("recovered stale deliveries: %s requeued, %s marked unknown", requeued, unknown)
        return requeued, unknown

    async def drain(
        self, *, stop: asyncio.Event | None = None, until_idle: bool = True, keep_connection: bool = False
    ) -> int:
        """Send what is due now. With `until_idle`, return once nothing is due (tests, CLI).

        At most `concurrency` deliveries are between claim and SMTP reply at once (the
        window); a delivery leaves the window as soon as its SMTP conversation ends, while its
        outcome is still being committed, so a slow commit never leaves the render processes
        without work. The writer's database connection is given back at the end unless
        `keep_connection` (the `run` loop keeps it between polls and gives it back when it stops).
        """
        window = _Window()
        tasks: set[asyncio.Task[None]] = set()
        handled = 0
        try:
            while stop is None or not stop.is_set():
                window.changed.clear()  # before looking: a slot freed from now on wakes the wait below
                free = self.concurrency - window.open
                claimed: list[PreparedSend] = []
                # Refill in batches (half the window at least): one claim round and one
                # load of N deliveries costs about what one delivery alone would.
                if free > 0 and (free >= self.refill_at or not window.open):
                    claimed = await self._claim(free)
                    for prepared in claimed:
                        task = asyncio.create_task(self._send(prepared, window.enter()))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    handled += len(claimed)
                if not tasks:
                    if until_idle:
                        break
                    await _sleep_or_stop(stop, self.poll_interval)
                    continue
                if not claimed and free >= self.refill_at:
                    # the window had room but nothing was due: look again in a while, or when all is done
                    await _wait_any(window.changed, tasks, self.poll_interval)
                else:
                    await _wait_any(window.changed, tasks, None)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if not keep_connection:
                await self.writer.aclose()
        return handled

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop of `invoicebot worker` / `run`: recover, then drain forever."""
        log.info("worker %s started", self.worker_id)
        last_recovery = datetime.min.replace(tzinfo=self.clock().tzinfo)
        try:
            while not stop.is_set():
                if self.clock() - last_recovery > self.stale_after / 2:
                    await self.recover()
                    last_recovery = self.clock()
                await self.drain(stop=stop, until_idle=True, keep_connection=True)
                await _sleep_or_stop(stop, self.poll_interval)
        finally:
            await self.writer.aclose()
        log.info("worker %s stopped", self.worker_id)


class _Window:
    """Deliveries between claim and SMTP reply; `changed` is set whenever one leaves."""

    def __init__(self) -> None:
        self.open = 0
        self.changed = asyncio.Event()

    def enter(self) -> _Window.Slot:
        self.open += 1
        return _Window.Slot(self)

    class Slot:
        """One delivery's place in the window; releasing it twice is harmless."""

        def __init__(self, window: _Window) -> None:
            self._window: _Window | None = window

        def release(self) -> None:
            if self._window is not None:
                self._window.open -= 1
                self._window.changed.set()
                self._window = None


async def _wait_any(changed: asyncio.Event, tasks: set[asyncio.Task[None]], at_most: float | None) -> None:
    """Until a delivery leaves the window or a task ends (and `at_most` seconds at most, unless None)."""
    waiter = asyncio.ensure_future(changed.wait())
    try:
        await asyncio.wait([waiter, *tasks], timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _sleep_or_stop(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
