"""The send worker: drains the deliveries table, keeping rendering and sending both busy.

Up to `concurrency` deliveries are in flight at once: while some render in the process
pool, others talk SMTP over the transport's pooled connections. Claims are small batches,
so several workers (processes or machines) share one database fairly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import utcnow
from services.email.transport import Transport
from services.sending.pipeline import SenderIdentity, pool_renderer, send_one
from services.sending.queue import RetryPolicy, claim_deliveries, recover_stale

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
        executor: Executor | None,
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
        self.render = pool_renderer(executor)
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.stale_after = stale_after
        self.clock = clock
        self.sent = 0
        # SQLite has one writer at a time: queue this process's writers on an asyncio lock
        # rather than in SQLite's sleeping busy handler. PostgreSQL needs no such lock.
        self.write_lock = asyncio.Lock() if sessions.kw["bind"].dialect.name == "sqlite" else None

    async def _send(self, delivery_id: int) -> None:
        try:
            await send_one(
                sessions=self.sessions,
                delivery_id=delivery_id,
                worker_id=self.worker_id,
                transport=self.transport,
                identity=self.identity,
                retry=self.retry,
                render=self.render,
                now=self.clock,
                write_lock=self.write_lock,
            )
            self.sent += 1
        except Exception:
            # The row stays `sending` and stale recovery decides (requeue before DATA, else
            # unknown): an unexpected error must never turn into a silent resend.
            log.exception("delivery %s: unexpected error in the worker", delivery_id)

    async def recover(self) -> tuple[int, int]:
        async with self.sessions() as session:
            requeued, unknown = await recover_stale(session, now=self.clock(), stale_after=self.stale_after)
        if requeued or unknown:
            log.warning("recovered stale deliveries: %s requeued, %s marked unknown", requeued, unknown)
        return requeued, unknown

    async def drain(self, *, stop: asyncio.Event | None = None, until_idle: bool = True) -> int:
        """Send what is due now. With `until_idle`, return once nothing is due (tests, CLI)."""
        in_flight: set[asyncio.Task[None]] = set()
        handled = 0
        while stop is None or not stop.is_set():
            free = self.concurrency - len(in_flight)
            claimed: list[int] = []
            if free > 0:
                async with self.write_lock or contextlib.nullcontext(), self.sessions() as session:
                    claimed = await claim_deliveries(session, worker_id=self.worker_id, now=self.clock(), limit=free)
                for delivery_id in claimed:
                    task = asyncio.create_task(self._send(delivery_id))
                    in_flight.add(task)
                handled += len(claimed)
            if not in_flight:
                if until_idle:
                    break
                await _sleep_or_stop(stop, self.poll_interval)
                continue
            _done, in_flight_pending = await asyncio.wait(
                in_flight,
                timeout=None if claimed or free == 0 else self.poll_interval,
                return_when=asyncio.FIRST_COMPLETED,
            )
            in_flight = set(in_flight_pending)
        if in_flight:
            await asyncio.gather(*in_flight)
        return handled

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop of `invoicebot worker` / `run`: recover, then drain forever."""
        log.info("worker %s started", self.worker_id)
        last_recovery = datetime.min.replace(tzinfo=self.clock().tzinfo)
        while not stop.is_set():
            if self.clock() - last_recovery > self.stale_after / 2:
                await self.recover()
                last_recovery = self.clock()
            await self.drain(stop=stop, until_idle=True)
            await _sleep_or_stop(stop, self.poll_interval)
        log.info("worker %s stopped", self.worker_id)


async def _sleep_or_stop(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
