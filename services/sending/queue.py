"""The deliveries table as a queue: claim, record outcomes, recover what a dead worker left.

Exactly-once rests on three things here:
- a claim is a compare-and-set (`UPDATE … WHERE status IN ('queued','deferred')`), after a
  `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never hold one delivery;
- `data_started_at` is committed just before the message data is handed to the server, so a
  worker that dies afterwards leaves a row that recovery marks `unknown`, never requeues;
- the outcome, the invoice's new state and the Slack notification commit together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import record_audit
from services.db.models import Delivery, DeliveryEvent, DeliveryKind, DeliveryStatus, Invoice
from services.invoices import record_sent_by_email
from services.notifications import enqueue_notification

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: base·2^(attempt-1), capped, then give up."""

    max_attempts: int = 8
    base_seconds: float = 60.0
    max_seconds: float = 3600.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Outcome:
    """What the SMTP conversation ended with, in plain terms (see services.email.transport)."""

    kind: str  # accepted | transient | permanent | ambiguous
    detail: str
    accepted: tuple[str, ...] = ()
    refused: dict[str, str] | None = None
    deferred: dict[str, str] | None = None


async def claim_deliveries(session: AsyncSession, *, worker_id: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due deliveries for this worker; commits. Returns their ids."""
    candidates = (
        select(Delivery.id)
        .where(Delivery.status.in_([s.value for s in CLAIMABLE]), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(candidates)).scalars())
    claimed: list[int] = []
    for delivery_id in ids:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_([s.value for s in CLAIMABLE]))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_at=now,
                claimed_by=worker_id,
                data_started_at=None,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    await session.commit()
    return claimed


async def mark_data_started(session: AsyncSession, *, delivery_id: int, worker_id: str, now: datetime) -> None:
    """Commit the point of no return: from here a crash means `unknown`, not a retry."""
    await session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.claimed_by == worker_id).values(data_started_at=now)
    )
    await session.commit()


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


async def record_outcome(
    session: AsyncSession,
    *,
    delivery_id: int,
    worker_id: str,
    outcome: Outcome,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random | None = None,
) -> Delivery | None:
    """Store what happened, move the invoice, owe Slack a post — one transaction. Commits.

    Returns None if the delivery is no longer this worker's (recovered as stale meanwhile).
    """
    delivery = (
        await session.execute(select(Delivery).where(Delivery.id == delivery_id).with_for_update())
    ).scalar_one()
    if delivery.status != DeliveryStatus.SENDING or delivery.claimed_by != worker_id:
        await session.rollback()
        return None
    results = dict(delivery.recipient_results or {})
    delivery.claimed_at = None
    if outcome.kind == "accepted":
        delivery.status = DeliveryStatus.ACCEPTED
        delivery.smtp_reply = outcome.detail
        delivery.finished_at = now
        delivery.last_error = None
        for address in outcome.accepted:
            results[address] = {"status": "accepted", "reply": outcome.detail}
            session.add(_event(delivery, type_="accepted", recipient=address, now=now, detail=outcome.detail))
        for address, reply in (outcome.refused or {}).items():
            results[address] = {"status": "failed", "reply": reply}
            session.add(_event(delivery, type_="failed", recipient=address, now=now, detail=reply))
        for address, reply in (outcome.deferred or {}).items():
            results[address] = {"status": "deferred", "reply": reply}
            session.add(_event(delivery, type_="deferred", recipient=address, now=now, detail=reply))
        if delivery.kind == DeliveryKind.INVOICE:
            invoice = await session.get(Invoice, delivery.invoice_id, with_for_update=True)
            if invoice is not None:
                record_sent_by_email(invoice, actor=delivery.approved_by or delivery.requested_by, at=now)
    elif outcome.kind == "transient" and delivery.attempts < retry.max_attempts:
        delivery.status = DeliveryStatus.DEFERRED
        delivery.last_error = outcome.detail
        delivery.next_attempt_at = now + timedelta(seconds=retry.delay(delivery.attempts, rng))
        session.add(_event(delivery, type_="deferred", recipient=None, now=now, detail=outcome.detail))
    elif outcome.kind == "ambiguous":
        delivery.status = DeliveryStatus.UNKNOWN
        delivery.last_error = outcome.detail
        delivery.finished_at = now
        session.add(_event(delivery, type_="unknown", recipient=None, now=now, detail=outcome.detail))
    else:
        delivery.status = DeliveryStatus.FAILED
        gave_up = outcome.kind == "transient"
        delivery.last_error = (
            f"gave up after {delivery.attempts} attempts: {outcome.detail}" if gave_up else outcome.detail
        )
        delivery.finished_at = now
        for address, reply in (outcome.refused or {}).items():
            results[address] = {"status": "failed", "reply": reply}
        session.add(_event(delivery, type_="failed", recipient=None, now=now, detail=delivery.last_error))
    delivery.recipient_results = results
    delivery.updated_at = now
    record_audit(
        session,
        organisation_id=delivery.organisation_id,
        actor=f"worker:{worker_id}",
        action=f"delivery.{delivery.status}",
        subject_type="delivery",
        subject_id=delivery.id,
        detail={"detail": outcome.detail[:500]},
    )
    await _owe_slack(session, delivery)
    await _owe_alerts(session, delivery, outcome)
    await session.commit()
    return delivery


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


async def _owe_alerts(session: AsyncSession, delivery: Delivery, outcome: Outcome) -> None:
    """One alert per refused recipient, or one for the whole send (failed or unknown); previews never."""
    if delivery.kind != DeliveryKind.INVOICE:
        return
    if delivery.status == DeliveryStatus.UNKNOWN:
        await _owe_alert(session, delivery, type_="unknown", recipient=None, diagnostic=outcome.detail)
    elif delivery.status in (DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED) and outcome.refused:
        for address, reply in outcome.refused.items():
            await _owe_alert(session, delivery, type_="failed", recipient=address, diagnostic=reply)
    elif delivery.status == DeliveryStatus.FAILED:
        await _owe_alert(session, delivery, type_="failed", recipient=None, diagnostic=delivery.last_error or "")


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
