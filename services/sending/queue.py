"""The deliveries table as a queue: claim, record outcomes, recover what a dead worker left.

Exactly-once rests on three things here:
- a claim is a compare-and-set (`UPDATE … WHERE status IN ('deferred','queued')`, the statuses
  services.sending.transitions lets go to `sending`), after a `SELECT … FOR UPDATE SKIP LOCKED`
  on PostgreSQL, so two workers never hold one delivery;
- `data_started_at` is committed just before the message data is handed to the server, so a
  worker that dies afterwards leaves a row that recovery marks `unknown`, never requeues;
- the outcome, the invoice's new state and the Slack notification commit together.

Stale recovery's moves are checked against the table and owe what `system_moved` says
(the status message, and an alert for an invoice), written by the unit of work's writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, DeliveryKind, DeliveryStatus, Organisation
from services.sending.outcomes import Outcome, RetryPolicy
from services.sending.transitions import Alert, SystemMove, check_move, origin_values, system_moved
from services.unit_of_work import write_owed

__all__ = [
    "Outcome",
    "RetryPolicy",
    "claim_deliveries",
    "count_due_deliveries",
    "mark_data_started_many",
    "recover_stale",
]

# Built once: the worker runs these hundreds of times a second, and a statement built per
# call costs more to construct and key for SQLAlchemy's cache than to execute.
_DELIVERY = Delivery.__table__
CLAIMABLE_VALUES = origin_values(DeliveryStatus.SENDING)  # queued, deferred: the table's way into `sending`
_ORGANISATION = Organisation.__table__
# A paused organisation's deliveries (its Slack install is gone) wait in the queue, untouched.
_NOT_PAUSED = _DELIVERY.c.organisation_id.not_in(
    select(_ORGANISATION.c.id).where(_ORGANISATION.c.sending_paused.is_not(None)).scalar_subquery()
)
_CLAIM_CANDIDATES = (
    select(_DELIVERY.c.id)
    .where(_DELIVERY.c.status.in_(CLAIMABLE_VALUES), _DELIVERY.c.next_attempt_at <= bindparam("b_now"), _NOT_PAUSED)
    .order_by(_DELIVERY.c.next_attempt_at, _DELIVERY.c.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    _DELIVERY.update()
    .where(_DELIVERY.c.id.in_(bindparam("b_ids", expanding=True)), _DELIVERY.c.status.in_(CLAIMABLE_VALUES))
    .values(
        status=DeliveryStatus.SENDING.value,
        claimed_at=bindparam("b_now"),
        claimed_by=bindparam("b_worker"),
        data_started_at=None,
        attempts=_DELIVERY.c.attempts + 1,
        updated_at=bindparam("b_now"),
    )
    .returning(_DELIVERY.c.id)
)
_MARK_DATA_STARTED = (
    _DELIVERY.update()
    .where(_DELIVERY.c.id.in_(bindparam("b_ids", expanding=True)), _DELIVERY.c.claimed_by == bindparam("b_worker"))
    .values(data_started_at=bindparam("b_now"))
)


def unmark_data_started(connection: Connection, *, delivery_id: int, worker_id: str) -> None:
    """Take back a data-start mark in the transaction that wrote it (a reminder overtaken by a payment:
    services.sending.writer), so its row says again that no data went."""
    connection.execute(
        _DELIVERY.update()
        .where(_DELIVERY.c.id == delivery_id, _DELIVERY.c.claimed_by == worker_id)
        .values(data_started_at=None)
    )


def claim_deliveries(connection: Connection, *, worker_id: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due deliveries for this worker; the caller commits. Returns their ids.

    The UPDATE re-checks the status (compare-and-set), so a row another claimer took
    between the SELECT and the UPDATE is simply not returned.
    """
    ids = list(connection.execute(_CLAIM_CANDIDATES, {"b_now": now, "b_limit": limit}).scalars())
    if not ids:
        return []
    result = connection.execute(_CLAIM, {"b_ids": ids, "b_now": now, "b_worker": worker_id})
    return sorted(result.scalars(), key=ids.index)


def mark_data_started_many(
    connection: Connection, *, delivery_ids: Sequence[int], worker_id: str, now: datetime
) -> None:
    """Mark that these deliveries' message data is about to go; the caller commits before sending it."""
    connection.execute(_MARK_DATA_STARTED, {"b_ids": list(delivery_ids), "b_worker": worker_id, "b_now": now})


def _event(delivery: Delivery, *, type_: str, recipient: str | None, now: datetime, detail: str) -> DeliveryEvent:
    return DeliveryEvent(
        organisation_id=delivery.organisation_id,
        delivery_id=delivery.id,
        source="smtp",
        type=type_,
        recipient=recipient,
        occurred_at=now,
        detail={"reply": detail},
    )


async def _owe(session: AsyncSession, delivery: Delivery, before: DeliveryStatus, alert: Alert | None) -> None:
    """Write what stale recovery's move of `delivery` owes (the table checks the move first)."""
    owed = system_moved(
        SystemMove(
            organisation_id=delivery.organisation_id, delivery_id=delivery.id, before=before, after=delivery.status,
            invoice=delivery.kind != DeliveryKind.PREVIEW, status_channel=delivery.slack_channel,
            alerts=(alert,) if alert else (),
        )
    )  # fmt: skip
    await write_owed(session, audits=owed.audits, posts=owed.posts)


async def count_due_deliveries(session: AsyncSession, *, now: datetime) -> int:
    """How many deliveries are waiting to be claimed now (for the worker's health reason)."""
    query = (
        select(func.count())
        .select_from(_DELIVERY)
        .where(_DELIVERY.c.status.in_(CLAIMABLE_VALUES), _DELIVERY.c.next_attempt_at <= now, _NOT_PAUSED)
    )
    return int(await session.scalar(query) or 0)


async def recover_stale(
    session: AsyncSession, *, now: datetime, stale_after: timedelta, max_attempts: int
) -> tuple[int, int, int]:
    """Rows left `sending` by a worker that died or could not record them.

    Before DATA → requeued, unless the delivery has used its `max_attempts` claims: then
    `failed` with the reason and an alert (a delivery that breaks its worker every time
    must end in a state a person sees, not be requeued forever). After DATA → `unknown`.
    Returns (requeued, unknown, failed). Commits.
    """
    cutoff = now - stale_after
    stale = (
        (
            await session.execute(
                select(Delivery)
                .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < cutoff)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    requeued = unknown = failed = 0
    for delivery in stale:
        delivery.claimed_at = None
        delivery.claimed_by = None
        if delivery.data_started_at is None and delivery.attempts >= max_attempts:
            why = delivery.last_error or "each time, the worker stopped before the email was sent"
            delivery.status = DeliveryStatus.FAILED
            delivery.finished_at = now
            delivery.next_attempt_at = None
            delivery.last_error = f"gave up after {delivery.attempts} attempts: {why}"
            session.add(_event(delivery, type_="failed", recipient=None, now=now, detail=delivery.last_error))
            await _owe(session, delivery, DeliveryStatus.SENDING, Alert("failed", None, delivery.last_error))
            failed += 1
        elif delivery.data_started_at is None:
            check_move(DeliveryStatus.SENDING, DeliveryStatus.QUEUED)  # requeued silently: nothing is owed
            delivery.status = DeliveryStatus.QUEUED
            delivery.next_attempt_at = now
            requeued += 1
        else:
            delivery.status = DeliveryStatus.UNKNOWN
            delivery.finished_at = now
            delivery.last_error = (
                "The worker stopped while handing the email to the server; it may or may not have been sent."
            )
            session.add(_event(delivery, type_="unknown", recipient=None, now=now, detail=delivery.last_error))
            await _owe(session, delivery, DeliveryStatus.SENDING, Alert("unknown", None, delivery.last_error))
            unknown += 1
    await session.commit()
    return requeued, unknown, failed
