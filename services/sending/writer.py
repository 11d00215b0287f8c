"""The send worker's one writer: claims, data-start marks and outcomes, group-committed.

Every write of a worker process goes through one task that takes whatever is waiting —
claims, marks, outcomes — applies it in one transaction and commits once, then answers
each caller. Nobody waits for less than their own write: a send goes on to DATA only after
the transaction holding ITS mark committed, and an outcome is reported only once committed.
On SQLite this is also the one writer SQLite wants (no busy-handler sleeps); on PostgreSQL
it turns a hundred small commits into a few.

Batching, lingering and what happens when a round fails are `services.db.group_commit`'s
(one rule for every group commit); the rounds are a few Core statements and a commit, run
on a sync connection by `services.db.group_rounds.ConnectionRounds` (one thread hop per
round on SQLite, one held connection on PostgreSQL): a session, a pool checkout and a
driver round trip per statement cost more than the statements themselves.

A round the database refuses for now (locked past the lock timeout, disk full, connection
lost) fails its requests, and each caller backs off: the worker's claims in the worker loop,
an outcome here in `record`, which keeps it until it commits (or `record_patience` runs out
and stale recovery takes the row over). A request whose own data fails fails alone; the
others of its round commit. A failed commit never leaves a round half-applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from services.db.group_commit import GroupCommit
from services.db.group_rounds import ConnectionRounds
from services.db.rounds import DEFAULT_LOCK_TIMEOUT, transient_database_error
from services.errors import error_summary
from services.sending.jobs import ReminderCheck
from services.sending.outcomes import Outcome, RetryPolicy, record_outcomes
from services.sending.queue import claim_deliveries, mark_data_started_many, unmark_data_started
from services.sending.reminder_job import overtaken_reminders
from services.sending.ubl_checks import store_verdicts

log = logging.getLogger(__name__)

ClaimLoader = Callable[[Session, list[int]], Any]
"""Loads what claimed deliveries need, from their ids, inside the claim's transaction."""

MAX_ROUND = 256  # requests per transaction: bounds a round's time and its statement sizes
OUTCOME_BATCH = 16  # outcomes worth a round of their own
OUTCOME_WAIT = 0.05  # seconds an outcome waits for company at most
RECORD_BACKOFF = RetryPolicy(base_seconds=0.5, max_seconds=5.0)  # between attempts to commit one outcome


@dataclass(frozen=True, slots=True)
class _Mark:
    delivery_id: int


@dataclass(frozen=True, slots=True)
class _ReminderMark:
    delivery_id: int
    check: ReminderCheck


@dataclass(frozen=True, slots=True)
class _Record:
    delivery_id: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class _Claim:
    limit: int
    then: ClaimLoader | None


_Request = _Mark | _ReminderMark | _Record | _Claim


@dataclass(frozen=True, kw_only=True)
class WriterPatience:
    """How long the writer waits on the database, and who hears about it.

    `lock_timeout`: seconds a round waits for another transaction's lock before it fails.
    `record_patience`: seconds `record` keeps retrying an outcome the database refuses for
    now; keep it under the worker's stale-after, so recovery never races a late commit.
    `on_record_retry(error)`: told each time an outcome waits for the database (the loop's health)."""

    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    record_patience: float = 300.0
    on_record_retry: Callable[[Exception], object] | None = None


class GroupWriter:
    """Queue writes from many concurrent sends; one group commit per lane writes them in rounds.

    On PostgreSQL the data-start marks have a lane (and a connection) of their own: a mark
    holds an SMTP connection until it commits, so it must not wait behind a round of
    outcomes or a claim that loads a batch of invoices. Marks touch only rows already in
    `sending`, outcomes and claims others, so the lanes never wait on each other's locks.
    A reminder's mark has a third lane (transactions: it locks and re-checks the invoices it
    lists, see `mark_reminder_data_started`); it may wait for an outcome that writes one of
    those invoice rows (a lock_timeout at most), never the other way round for longer than
    its one short transaction.
    SQLite has one writer at a time whatever we do, so there everything shares one lane.
    Marks and claims go at once (a connection or the claimer is waiting on them); outcomes
    linger for company — OUTCOME_BATCH of them or OUTCOME_WAIT seconds — and ride along
    with the next round: nothing waits on them but their own send.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        worker_id: str,
        retry: RetryPolicy,
        now: Callable[[], datetime],
        patience: WriterPatience | None = None,
    ) -> None:
        patience = patience or WriterPatience()
        lock_timeout = patience.lock_timeout
        self.engine = engine
        self.worker_id = worker_id
        self.retry = retry
        self.now = now
        self.record_patience = patience.record_patience
        self.on_record_retry = patience.on_record_retry
        self._main = self._lane("send writer", single_statement=False, lock_timeout=lock_timeout)
        self._marks = self._main
        self._reminder_lane = self._main
        if engine.dialect.name != "sqlite":
            self._marks = self._lane("send writer (marks)", single_statement=True, lock_timeout=lock_timeout)
            reminder_marks = "send writer (reminder marks)"
            self._reminder_lane = self._lane(reminder_marks, single_statement=False, lock_timeout=lock_timeout)

    def _lane(self, name: str, *, single_statement: bool, lock_timeout: float) -> GroupCommit[_Request, Any]:
        """`single_statement`: a marks-only lane — each round one UPDATE, no transaction around it."""
        rounds: ConnectionRounds[_Request, Any] = ConnectionRounds(
            self.engine, self._write, single_statement=single_statement, lock_timeout=lock_timeout
        )
        return GroupCommit(rounds, max_round=MAX_ROUND, linger=OUTCOME_WAIT, linger_batch=OUTCOME_BATCH, name=name)

    @property
    def rounds(self) -> int:
        """Transactions tried so far, on every lane."""
        return sum(lane.rounds for lane in self._lanes())

    async def claim(self, limit: int, *, then: ClaimLoader | None = None) -> Any:
        """Claim up to `limit` due deliveries (compare-and-set; SKIP LOCKED on PostgreSQL).

        Returns their ids, or what `then(session, ids)` returns: it runs in the claim's own
        transaction, so loading what the claimed deliveries need costs no round of its own.
        """
        return await self._main.submit(_Claim(limit, then))

    async def mark_data_started(self, delivery_id: int) -> None:
        """Return once this delivery's data-start mark is committed: only then may DATA go."""
        await self._marks.submit(_Mark(delivery_id))

    async def mark_reminder_data_started(self, delivery_id: int, check: ReminderCheck) -> str | None:
        """A reminder's data-start mark: in the same transaction, its invoices are re-checked with
        their rows locked (services.reminders.owed). Returns None once the mark is committed (DATA
        may go), or, marking nothing, why it must not go ("INV-7 was paid before …"). On PostgreSQL a
        lane of its own: its round is a transaction, which the marks lane's single statements are
        not, and it must not wait behind the main lane's claims (a claim prepares a whole batch) and
        outcomes while it holds an SMTP connection; the round's reminders share one locked check."""
        overtaken: str | None = await self._reminder_lane.submit(_ReminderMark(delivery_id, check))
        return overtaken

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
                status: str | None = await self._main.submit(_Record(delivery_id, outcome), linger=True)
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

    async def aclose(self) -> None:
        """Finish the writes already queued, then let go of the database connections."""
        for lane in self._lanes():
            await lane.aclose()

    def _lanes(self) -> list[GroupCommit[_Request, Any]]:
        """Each lane once (on SQLite they are all the main lane)."""
        return list({id(lane): lane for lane in (self._main, self._marks, self._reminder_lane)}.values())

    def _write(self, connection: Connection, requests: Sequence[_Request]) -> list[Any]:
        """One round: all marks in one statement, then the outcomes, then each claim; answers in order."""
        now = self.now()
        marks = [r.delivery_id for r in requests if isinstance(r, _Mark)]
        if marks:
            mark_data_started_many(connection, delivery_ids=marks, worker_id=self.worker_id, now=now)
        overtaken = self._reminder_marks(
            connection, {r.delivery_id: r.check for r in requests if isinstance(r, _ReminderMark)}, now
        )
        outcomes = [(r.delivery_id, r.outcome) for r in requests if isinstance(r, _Record)]
        statuses: dict[int, str | None] = {}
        verdicts = {o.ubl_verdict[0]: o.ubl_verdict[1] for _, o in outcomes if o.ubl_verdict is not None}
        if verdicts:  # checked inline before these sends: a retry of the same document looks them up
            store_verdicts(connection, verdicts=verdicts, now=now)
        if outcomes:
            statuses = record_outcomes(
                connection, outcomes=outcomes, worker_id=self.worker_id, now=now, retry=self.retry
            )
        answers: list[Any] = []
        for request in requests:
            if isinstance(request, _Mark):
                answers.append(None)
            elif isinstance(request, _ReminderMark):
                answers.append(overtaken.get(request.delivery_id))
            elif isinstance(request, _Record):
                answers.append(statuses.get(request.delivery_id))
            else:
                answers.append(self._claim(connection, request, now))
        return answers

    def _reminder_marks(
        self, connection: Connection, checks: dict[int, ReminderCheck], now: datetime
    ) -> dict[int, str]:
        """Mark the round's reminders, unless an invoice of theirs is no longer owed: delivery id → why not.

        The marks are written first: on SQLite that write begins the transaction and takes the one
        write lock, so no payment commits between the check below and this round's commit (on
        PostgreSQL the invoice rows' FOR UPDATE does that); an overtaken one's mark is taken back.
        One check for the whole round (`overtaken_reminders`), not one per reminder."""
        if not checks:
            return {}
        mark_data_started_many(connection, delivery_ids=list(checks), worker_id=self.worker_id, now=now)
        overtaken = overtaken_reminders(connection, checks)
        for delivery_id in overtaken:
            unmark_data_started(connection, delivery_id=delivery_id, worker_id=self.worker_id)
        return overtaken

    def _claim(self, connection: Connection, claim: _Claim, now: datetime) -> Any:
        ids = claim_deliveries(connection, worker_id=self.worker_id, now=now, limit=claim.limit)
        if claim.then is None or not ids:
            return ids if claim.then is None else []
        with Session(bind=connection) as session:  # joins the round's transaction; closing it keeps the claim
            return claim.then(session, ids)
