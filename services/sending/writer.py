"""The send worker's one writer: claims, data-start marks and outcomes, group-committed.

Every write of a worker process goes through one task that takes whatever is waiting —
claims, marks, outcomes — applies it in one transaction and commits once, then answers
each caller. Nobody waits for less than their own write: a send goes on to DATA only after
the transaction holding ITS mark committed, and an outcome is reported only once committed.
On SQLite this is also the one writer SQLite wants (no busy-handler sleeps); on PostgreSQL
it turns a hundred small commits into a few.

A round is a few Core statements and a commit, run through `services.db.rounds` (one
thread hop per round on SQLite, one held connection on PostgreSQL): a session, a pool
checkout and a driver round trip per statement cost more than the statements themselves.

If a round's transaction fails because of one of its requests (a constraint, bad data), it
is rolled back and every request is retried in a transaction of its own, so one bad request
fails alone and the others still commit. If it fails because the database cannot write now
(locked past the lock timeout, disk full, connection lost: `transient_database_error`), every
request of the round fails at once — retrying them one by one would only wait out the lock
once per request — and each caller backs off: the worker's claims in the worker loop, an
outcome here in `record`, which keeps it until it commits (or `record_patience` runs out and
stale recovery takes the row over). A failed commit never leaves a round half-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from services.db.rounds import DEFAULT_LOCK_TIMEOUT, RoundRunner, round_runner, transient_database_error
from services.errors import error_summary
from services.sending.outcomes import Outcome, RetryPolicy, record_outcomes
from services.sending.queue import claim_deliveries, mark_data_started_many

log = logging.getLogger(__name__)

ClaimLoader = Callable[[Session, list[int]], Any]
"""Loads what claimed deliveries need, from their ids, inside the claim's transaction."""

MAX_ROUND = 256  # requests per transaction: bounds a round's time and its statement sizes
OUTCOME_BATCH = 16  # outcomes worth a round of their own
OUTCOME_WAIT = 0.05  # seconds an outcome waits for company at most
RECORD_BACKOFF = RetryPolicy(base_seconds=0.5, max_seconds=5.0)  # between attempts to commit one outcome


@dataclass
class _Round:
    marks: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    outcomes: list[tuple[int, Outcome, asyncio.Future[str | None]]] = field(default_factory=list)
    claims: list[tuple[int, ClaimLoader | None, asyncio.Future[Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.marks) + len(self.outcomes) + len(self.claims)


@dataclass
class _Lane:
    """One stream of rounds: its waiting requests, its task and its database connection."""

    pending: _Round = field(default_factory=_Round)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    rounds: RoundRunner | None = None  # opened by the first round, closed by aclose()
    oldest_outcome: float = 0.0
    marks_only: bool = False  # each round one UPDATE: no transaction needed around it


class GroupWriter:
    """Queue writes from many concurrent sends; one task per lane commits them in rounds.

    On PostgreSQL the data-start marks have a lane (and a connection) of their own: a mark
    holds an SMTP connection until it commits, so it must not wait behind a round of
    outcomes or a claim that loads a batch of invoices. Marks touch only rows already in
    `sending`, outcomes and claims others, so the lanes never wait on each other's locks.
    SQLite has one writer at a time whatever we do, so there everything shares one lane.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        worker_id: str,
        retry: RetryPolicy,
        now: Callable[[], datetime],
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        record_patience: float = 300.0,
        on_record_retry: Callable[[Exception], object] | None = None,
    ) -> None:
        """`lock_timeout`: seconds a round waits for another transaction's lock before it fails.
        `record_patience`: seconds `record` keeps retrying an outcome the database refuses for
        now; keep it under the worker's stale-after, so recovery never races a late commit.
        `on_record_retry(error)`: told each time an outcome waits for the database (the loop's health)."""
        self.engine = engine
        self.worker_id = worker_id
        self.retry = retry
        self.now = now
        self.lock_timeout = lock_timeout
        self.record_patience = record_patience
        self.on_record_retry = on_record_retry
        self._main = _Lane()
        self._marks = _Lane(marks_only=True) if engine.dialect.name != "sqlite" else self._main
        self.rounds = 0

    async def claim(self, limit: int, *, then: ClaimLoader | None = None) -> Any:
        """Claim up to `limit` due deliveries (compare-and-set; SKIP LOCKED on PostgreSQL).

        Returns their ids, or what `then(session, ids)` returns: it runs in the claim's own
        transaction, so loading what the claimed deliveries need costs no round of its own.
        """
        return await self._submit(self._main, "claims", limit, then)

    async def mark_data_started(self, delivery_id: int) -> None:
        """Return once this delivery's data-start mark is committed: only then may DATA go."""
        await self._submit(self._marks, "marks", delivery_id)

    async def record(self, delivery_id: int, outcome: Outcome) -> str | None:
        """Return the delivery's new status once committed (None: no longer this worker's).

        While the database cannot write (locked, full, unreachable) the outcome is retried with
        capped backoff for `record_patience` seconds: an email the server accepted must not
        turn `unknown` because of a busy database. Recording twice is harmless: the second
        finds the row no longer `sending` and writes nothing. Raises the last error after that,
        or at once for an error in the outcome itself.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.record_patience
        failures = 0
        while True:
            try:
                status: str | None = await self._submit(self._main, "outcomes", delivery_id, outcome)
                return status
            except Exception as exc:
                failures += 1
                if not transient_database_error(exc) or loop.time() >= give_up_at:
                    raise
                if self.on_record_retry is not None:
                    self.on_record_retry(exc)
                if failures == 1:
                    log.warning(
                        "delivery %s: its %s outcome is not committed yet (%s); retrying with backoff",
                        delivery_id,
                        outcome.kind,
                        error_summary(exc),
                    )
                delay = RECORD_BACKOFF.delay(failures)
                await asyncio.sleep(max(0.0, min(delay, give_up_at - loop.time())))

    async def _submit(self, lane: _Lane, kind: str, *request: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        queue: list[Any] = getattr(lane.pending, kind)
        if kind == "outcomes" and not queue:
            lane.oldest_outcome = loop.time()
        queue.append((*request, future))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run(lane))
        lane.wake.set()
        return await future

    async def _run(self, lane: _Lane) -> None:
        """Commit rounds while there is work; ends when idle (restarted by the next request).

        Marks and claims go at once (a connection or the claimer is waiting on them).
        Outcomes wait for company — OUTCOME_BATCH of them or OUTCOME_WAIT seconds — and
        ride along with the next round: nothing waits on them but their own send.
        """
        loop = asyncio.get_running_loop()
        while len(lane.pending):
            lane.wake.clear()
            pending = lane.pending
            if not pending.marks and not pending.claims and len(pending.outcomes) < OUTCOME_BATCH:
                remaining = lane.oldest_outcome + OUTCOME_WAIT - loop.time()
                if remaining > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lane.wake.wait(), remaining)
                    continue
            ripe = bool(pending.outcomes) and (
                len(pending.outcomes) >= OUTCOME_BATCH or loop.time() - lane.oldest_outcome >= OUTCOME_WAIT
            )
            batch, lane.pending = _take(pending, with_outcomes=ripe)
            if ripe and lane.pending.outcomes:  # left over beyond MAX_ROUND: next round
                lane.oldest_outcome = loop.time()
            self.rounds += 1
            try:
                await self._apply(lane, batch)
            except Exception as exc:
                if transient_database_error(exc) or len(batch) == 1:
                    _fail(batch, exc)  # each caller decides when to try again
                    continue
                log.warning("a group commit of %s writes failed; retrying them one by one", len(batch), exc_info=True)
                for single in _split(batch):
                    try:
                        await self._apply(lane, single)
                    except Exception as exc:  # answer the caller; the row stays as it was
                        _fail(single, exc)
            await asyncio.sleep(0)  # let the senders woken by this round queue their next writes

    async def aclose(self) -> None:
        """Finish the writes already queued, then let go of the database connections."""
        for lane in {id(lane): lane for lane in (self._main, self._marks)}.values():
            if lane.task is not None:
                await asyncio.gather(lane.task, return_exceptions=True)
            if lane.rounds is not None:
                rounds, lane.rounds = lane.rounds, None
                await rounds.aclose()

    async def _apply(self, lane: _Lane, batch: _Round) -> None:
        now = self.now()
        if lane.rounds is None:
            lane.rounds = round_runner(self.engine, single_statement=lane.marks_only, lock_timeout=self.lock_timeout)
        statuses, claimed = await lane.rounds.run(lambda connection: self._write(connection, batch, now))
        for _, future in batch.marks:
            _answer(future, None)
        for delivery_id, _, future in batch.outcomes:
            _answer(future, statuses.get(delivery_id))
        for loaded, (*_, future) in zip(claimed, batch.claims, strict=True):
            _answer(future, loaded)

    def _write(self, connection: Connection, batch: _Round, now: datetime) -> tuple[dict[int, str | None], list[Any]]:
        if batch.marks:
            mark_data_started_many(
                connection, delivery_ids=[d for d, _ in batch.marks], worker_id=self.worker_id, now=now
            )
        statuses: dict[int, str | None] = {}
        if batch.outcomes:
            statuses = record_outcomes(
                connection,
                outcomes=[(d, o) for d, o, _ in batch.outcomes],
                worker_id=self.worker_id,
                now=now,
                retry=self.retry,
            )
        claimed: list[Any] = []
        for limit, then, _ in batch.claims:
            ids = claim_deliveries(connection, worker_id=self.worker_id, now=now, limit=limit)
            if then is None or not ids:
                claimed.append(ids if then is None else [])
                continue
            with Session(bind=connection) as session:  # joins the round's transaction; closing it keeps the claim
                claimed.append(then(session, ids))
        return statuses, claimed


def _take(pending: _Round, *, with_outcomes: bool) -> tuple[_Round, _Round]:
    """Up to MAX_ROUND requests, marks first (a connection is waiting on each of them)."""
    batch, rest = _Round(), _Round()
    room = MAX_ROUND
    for name in ("marks", "claims", "outcomes") if with_outcomes else ("marks", "claims"):
        items: list[Any] = getattr(pending, name)
        getattr(batch, name).extend(items[:room])
        getattr(rest, name).extend(items[room:])
        room = max(0, room - len(items))
    if not with_outcomes:
        rest.outcomes = pending.outcomes
    return batch, rest


def _split(batch: _Round) -> list[_Round]:
    return [
        *(_Round(marks=[mark]) for mark in batch.marks),
        *(_Round(outcomes=[outcome]) for outcome in batch.outcomes),
        *(_Round(claims=[claim]) for claim in batch.claims),
    ]


def _answer(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(batch: _Round, exc: Exception) -> None:
    futures: list[asyncio.Future[Any]] = [
        *(f for _, f in batch.marks),
        *(f for *_, f in batch.outcomes),
        *(f for *_, f in batch.claims),
    ]
    for future in futures:
        if not future.done():
            future.set_exception(exc)
