"""The deliveries table as a queue: claim, record outcomes, recover what a dead worker left.

Exactly-once rests on three things here:
- a claim is a compare-and-set (`UPDATE … WHERE status IN ('queued','deferred')`), after a
  `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never hold one delivery;
- `data_started_at` is committed just before the message data is handed to the server, so a
  worker that dies afterwards leaves a row that recovery marks `unknown`, never requeues;
- the outcome, the invoice's new state and the Slack notification commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, DeliveryKind, DeliveryStatus
from services.notifications import enqueue_notification
from services.sending.outcomes import Outcome, RetryPolicy

__all__ = [
    "Outcome",
    "RetryPolicy",
    "claim_deliveries",
    "mark_data_started_many",
    "recover_stale",
]

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


def claim_deliveries(connection: Connection, *, worker_id: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due deliveries for this worker; the caller commits. Returns their ids.

    The UPDATE re-checks the status (compare-and-set), so a row another claimer took
    between the SELECT and the UPDATE is simply not returned.
    """
    candidates = (
        select(Delivery.id)
        .where(Delivery.status.in_([s.value for s in CLAIMABLE]), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(connection.execute(candidates).scalars())
    claimed: list[int] = []
    if ids:
        result = connection.execute(
            update(Delivery.__table__)
            .where(Delivery.id.in_(ids), Delivery.status.in_([s.value for s in CLAIMABLE]))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_at=now,
                claimed_by=worker_id,
                data_started_at=None,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .returning(Delivery.id)
        )
        claimed = sorted(result.scalars(), key=ids.index)
    return claimed


def mark_data_started_many(
    connection: Connection, *, delivery_ids: Sequence[int], worker_id: str, now: datetime
) -> None:
    """Mark that these deliveries' message data is about to go; the caller commits before sending it."""
    table = Delivery.__table__
    connection.execute(
        table.update().where(table.c.id.in_(delivery_ids), table.c.claimed_by == worker_id).values(data_started_at=now)
    )


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


async def _owe_slack(session: AsyncSession, delivery: Delivery) -> None:
    await enqueue_notification(
        session,
        organisation_id=delivery.organisation_id,
        delivery_id=delivery.id,
        kind="delivery_status",
        channel=delivery.slack_channel,
        payload={"status": str(delivery.status)},
    )


async def _owe_alert(
    session: AsyncSession, delivery: Delivery, *, type_: str, recipient: str | None, diagnostic: str
) -> None:
    """A failure a person must look at: posted in the status message's thread with the fixes."""
    await enqueue_notification(
        session,
        organisation_id=delivery.organisation_id,
        delivery_id=delivery.id,
        kind="delivery_alert",
        channel=delivery.slack_channel,
        payload={"type": type_, "recipient": recipient, "diagnostic": diagnostic[:2000]},
    )


async def recover_stale(session: AsyncSession, *, now: datetime, stale_after: timedelta) -> tuple[int, int]:
    """Rows left `sending` by a worker that died: before DATA → requeued; after → `unknown`.

    Returns (requeued, unknown). Commits.
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
    requeued = unknown = 0
    for delivery in stale:
        delivery.claimed_at = None
        delivery.claimed_by = None
        if delivery.data_started_at is None:
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
            await _owe_slack(session, delivery)
            if delivery.kind == DeliveryKind.INVOICE:
                await _owe_alert(session, delivery, type_="unknown", recipient=None, diagnostic=delivery.last_error)
            unknown += 1
    await session.commit()
    return requeued, unknown
