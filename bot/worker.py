"""The send worker: drains the deliveries table, keeping rendering and sending both busy.

Up to `concurrency` deliveries are between claim and SMTP reply at once: while some render
in the render processes, others talk SMTP over the transport's pooled connections, and the
outcomes of finished ones are committed by the writer meanwhile. Claims are small batches,
so several workers (processes or machines) share one database fairly.

The `run` loop heals: a claim, a recovery pass or a whole round that fails (database locked
past the lock timeout, disk full, connection lost, a bug) is logged once for the streak,
reported to the loop's heartbeat (so `/healthz` turns red if it lasts), and retried with
capped, jittered backoff while the deliveries already in flight finish. Before this, a claim
error escaped `drain` and ended `run`: the worker stopped sending for good while the process
— and its health check — carried on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat, LoopHealth
from services.db.engine import engine_of
from services.db.models import utcnow
from services.db.rounds import DEFAULT_LOCK_TIMEOUT, limit_lock_wait
from services.email.transport import Transport
from services.errors import error_summary
from services.sending.pipeline import (
    PreparedSend,
    Renderer,
    SenderIdentities,
    SenderIdentity,
    pool_renderer,
    prepare_sends,
    send_prepared,
)
from services.sending.queue import RetryPolicy, count_due_deliveries, recover_stale
from services.sending.render_pool import RenderPool
from services.sending.ubl_checks import UblGate
from services.sending.writer import GroupWriter, WriterPatience

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Each organisation's sender identity as its settings say now (bot/organisation_settings.py).
IdentityNow = Callable[[AsyncSession], Awaitable[SenderIdentities]]
IDENTITY_REREAD_SECONDS = 1.0


@dataclass(frozen=True, kw_only=True)
class WorkerParts:
    """What the worker sends with.

    `render`: renders a job's message bytes (default: in `render_pool`, or inline).
    `ubl_gate`: checks a UBL with no stored verdict inline and counts it (a private one when None).
    `heartbeat`: where the loop reports progress (a private one when None)."""

    sessions: async_sessionmaker[AsyncSession]
    transport: Transport
    identity: SenderIdentity | SenderIdentities | IdentityNow
    render_pool: RenderPool | None
    clock: Callable[[], datetime] = utcnow
    heartbeat: Heartbeat | None = None
    render: Renderer | None = None  # default: pool_renderer (which packs what is kept as sent)
    ubl_gate: UblGate | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerTuning:
    """How hard and how patiently the worker sends.

    `lock_timeout`: seconds a write waits for another transaction's lock before it fails and
    is retried. `max_backoff`: the longest pause between failed claims, in seconds."""

    retry: RetryPolicy | None = None
    worker_id: str | None = None
    concurrency: int = 8
    poll_interval: float = 1.0
    stale_after: timedelta = timedelta(minutes=10)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    max_backoff: float = 30.0


class Worker:
    def __init__(self, parts: WorkerParts, tuning: WorkerTuning | None = None) -> None:
        tuning = tuning or WorkerTuning()
        clock, stale_after, lock_timeout = parts.clock, tuning.stale_after, tuning.lock_timeout
        self.sessions = sessions = parts.sessions
        self.transport = parts.transport
        self.identity = parts.identity
        self.render = parts.render or pool_renderer(parts.render_pool)
        self.ubl_gate = parts.ubl_gate or UblGate()
        self.heartbeat = parts.heartbeat or LoopHealth().loop("worker")
        self.lock_timeout = lock_timeout
        self.backoff = RetryPolicy(base_seconds=tuning.poll_interval, max_seconds=tuning.max_backoff)
        self.retry = tuning.retry or RetryPolicy()
        self.worker_id = tuning.worker_id or default_worker_id()
        self.concurrency = tuning.concurrency
        self.refill_at = max(1, tuning.concurrency // 2)
        self.poll_interval = tuning.poll_interval
        self.stale_after = stale_after
        self.clock = clock
        self.sent = 0
        # Claims, data-start marks and outcomes all go through one writer that group-commits
        # them: one writer per process is what SQLite wants, and fewer commits suit both.
        self.writer = GroupWriter(
            engine=engine_of(sessions),
            worker_id=self.worker_id,
            retry=self.retry,
            now=clock,
            patience=WriterPatience(
                lock_timeout=lock_timeout,
                record_patience=stale_after.total_seconds() / 2,
                on_record_retry=lambda exc: self.heartbeat.failed(f"outcomes not committed: {error_summary(exc)}"),
            ),
        )
        self._identity: SenderIdentities | None = None
        self._identity_read_at = 0.0
        self._claims_resume_at = 0.0  # event-loop time before which no claim is tried (backoff)

    async def _send(self, prepared: PreparedSend, slot: _Window.Slot) -> None:
        try:
            await send_prepared(
                prepared,
                transport=self.transport,
                render=self.render,
                writer=self.writer,
                on_sent=slot.release,
                ubl_gate=self.ubl_gate,
            )
            self.sent += 1
            self.heartbeat.progressed()
        except Exception as exc:
            # Only when its outcome could not be committed even after retries: the row stays
            # `sending` and stale recovery decides (requeue before DATA, else unknown, or
            # failed past the attempt limit): an unexpected error never becomes a silent resend.
            if self.heartbeat.failed(f"an outcome could not be recorded: {error_summary(exc)}"):
                log.exception(
                    "delivery %s: its outcome could not be recorded; stale recovery will", prepared.delivery_id
                )
        finally:
            slot.release()  # no-op when on_sent already did

    async def _claim(self, limit: int) -> list[PreparedSend]:
        """Claim up to `limit` deliveries and load all they need in a few queries."""
        identity = await self._current_identity()
        prepared: list[PreparedSend] = await self.writer.claim(
            limit, then=lambda session, ids: prepare_sends(session, delivery_ids=ids, identity=identity)
        )
        return prepared

    async def _current_identity(self) -> SenderIdentity | SenderIdentities:
        """Each organisation's sender identity as the settings say now: re-read at most once a second
        (cached by settings version), so an admin's change reaches the next claims without a restart."""
        if isinstance(self.identity, SenderIdentity | SenderIdentities):
            return self.identity
        loop_time = asyncio.get_running_loop().time()
        if self._identity is None or loop_time - self._identity_read_at >= IDENTITY_REREAD_SECONDS:
            async with self.sessions() as session:
                self._identity = await self.identity(session)
            self._identity_read_at = loop_time
        return self._identity

    async def recover(self) -> tuple[int, int, int]:
        """Stale recovery. Returns (requeued, marked unknown, failed past the attempt limit)."""
        async with self.sessions() as session:
            await limit_lock_wait(session, self.lock_timeout)
            recovered = await recover_stale(
                session, now=self.clock(), stale_after=self.stale_after, max_attempts=self.retry.max_attempts
            )
        if any(recovered):
            log.warning("recovered stale deliveries: %s requeued, %s marked unknown, %s failed", *recovered)
        return recovered

    async def _claim_failed(self, exc: Exception, *, pause: bool) -> None:
        """Log the first failure of a streak, tell the heartbeat what is waiting, pause claims."""
        due = await self._count_due()
        first = self.heartbeat.failed(error_summary(exc), due=f"{due} deliveries" if due is not None else None)
        delay = self.backoff.delay(self.heartbeat.failures)
        if first:
            log.warning(
                "worker %s could not claim deliveries (%s due): %s; retrying with backoff (at most %g s apart) "
                "until it works",
                self.worker_id,
                "?" if due is None else due,
                error_summary(exc),
                self.backoff.max_seconds,
                exc_info=exc,
            )
        if pause:
            self._claims_resume_at = asyncio.get_running_loop().time() + delay

    async def _count_due(self) -> int | None:
        """How many deliveries wait, for the health reason; None if the database will not say in 1 s."""
        try:
            async with asyncio.timeout(1.0), self.sessions() as session:
                return await count_due_deliveries(session, now=self.clock())
        except Exception:
            return None

    def _claim_paused(self) -> bool:
        return asyncio.get_running_loop().time() < self._claims_resume_at

    async def drain(
        self,
        *,
        stop: asyncio.Event | None = None,
        until_idle: bool = True,
        keep_connection: bool = False,
        raise_claim_errors: bool = True,
    ) -> int:
        """Send what is due now. With `until_idle`, return once nothing is due (tests, CLI).

        At most `concurrency` deliveries are between claim and SMTP reply at once (the
        window); a delivery leaves the window as soon as its SMTP conversation ends, while its
        outcome is still being committed, so a slow commit never leaves the render processes
        without work. The writer's database connection is given back at the end unless
        `keep_connection` (the `run` loop keeps it between polls and gives it back when it stops).
        A claim that fails is raised once the deliveries in flight are done, unless not
        `raise_claim_errors` (the `run` loop): then claims pause for the backoff and resume.
        """
        window = _Window()
        tasks: set[asyncio.Task[None]] = set()
        handled = 0
        claim_error: Exception | None = None
        try:
            while stop is None or not stop.is_set():
                window.changed.clear()  # before looking: a slot freed from now on wakes the wait below
                free = self.concurrency - window.open
                claimed: list[PreparedSend] = []
                # Refill in batches (half the window at least): one claim round and one
                # load of N deliveries costs about what one delivery alone would.
                if free > 0 and (free >= self.refill_at or not window.open) and not self._claim_paused():
                    claimed, claim_error = await self._start_claimed(free, window, tasks, raise_claim_errors)
                    if claim_error is not None:
                        break
                    handled += len(claimed)
                if not tasks:
                    if until_idle:
                        break
                    await _sleep_or_stop(stop, max(self.poll_interval, self._pause_left()))
                    continue
                await self._wait_for_room(window, tasks, idle_room=not claimed and free >= self.refill_at)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if not keep_connection:
                await self.writer.aclose()
        if claim_error is not None:
            raise claim_error
        return handled

    async def _start_claimed(
        self, free: int, window: _Window, tasks: set[asyncio.Task[None]], raise_claim_errors: bool
    ) -> tuple[list[PreparedSend], Exception | None]:
        """Claim up to `free` deliveries and start sending each. A failed claim pauses claims (the
        `run` loop) or is returned, to be raised once the deliveries in flight are done."""
        try:
            claimed = await self._claim(free)
        except Exception as exc:
            await self._claim_failed(exc, pause=not raise_claim_errors)
            return [], exc if raise_claim_errors else None
        if claimed:
            self.heartbeat.progressed()
        elif not tasks:
            self.heartbeat.idle()
        for prepared in claimed:
            task = asyncio.create_task(self._send(prepared, window.enter()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return claimed, None

    async def _wait_for_room(self, window: _Window, tasks: set[asyncio.Task[None]], *, idle_room: bool) -> None:
        """Until a slot frees, a send ends or claims may resume; `idle_room`: the window had room
        but nothing was due, so look again in a while, or when all is done."""
        if self._claim_paused():
            await _wait_any(window.changed, tasks, max(0.01, self._pause_left()))
        elif idle_room:
            await _wait_any(window.changed, tasks, self.poll_interval)
        else:
            await _wait_any(window.changed, tasks, None)

    def _pause_left(self) -> float:
        return max(0.0, self._claims_resume_at - asyncio.get_running_loop().time())

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop of `invoicebot worker` / `run`: recover, then drain forever."""
        log.info("worker %s started", self.worker_id)
        last_recovery = datetime.min.replace(tzinfo=self.clock().tzinfo)
        try:
            while not stop.is_set():
                try:
                    if self.clock() - last_recovery > self.stale_after / 2:
                        await self.recover()
                        last_recovery = self.clock()
                    await self.drain(stop=stop, until_idle=True, keep_connection=True, raise_claim_errors=False)
                except Exception as exc:  # recovery, or a bug: never the end of the loop
                    if self.heartbeat.failed(error_summary(exc)):
                        log.exception(
                            "worker %s: a round (stale recovery, claim) failed; retrying with backoff", self.worker_id
                        )
                    self._claims_resume_at = asyncio.get_running_loop().time() + self.backoff.delay(
                        self.heartbeat.failures
                    )
                await _sleep_or_stop(stop, max(self.poll_interval, self._pause_left()))
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
