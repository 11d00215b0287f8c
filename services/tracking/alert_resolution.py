"""When a delivery alert's problem is over, and who ended it.

An alert (a bounce, drop, complaint, failure or an email in doubt) is *resolved* when its
delivery is no longer its invoice's open problem: a later send of the invoice was asked
for (a fix-and-resend, a review), the invoice was marked as sent by hand, paid or voided,
or the email itself turned out delivered. `resolution_of` is that rule, derived from the
rows (nothing extra is stored), so a stale button and the alert's own rendering agree.

The alert messages are rewritten in place by the notifier (bot/notifier.py), through a
notification row of kind `alerts_resolved` owed in the transaction of the change that
resolved them (`owe_alerts_resolved`); each rewritten alert is marked in its own
notification's payload (`mark_alert_resolved`) so it is rewritten once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Delivery,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Notification,
    NotificationStatus,
    SentVia,
)
from services.errors import NotFound
from services.invoicing.states import latest_deliveries
from services.notifications import NotificationKind, NotificationRequest, enqueue_notification
from services.tracking.precedence import TERMINAL_BAD
from services.tracking.status import PROBLEM_STATUSES

RESOLVED_KEY = "resolved"  # in an alert notification's payload, once its message was rewritten


@dataclass(frozen=True)
class Resolution:
    """Who ended a delivery's problem, when, and how ("resent to ap@new.example, accepted")."""

    by: str | None  # a Slack user id, or None when no person did (the email was delivered after all)
    at: datetime
    how: str

    def as_payload(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at.isoformat(), "how": self.how}


def _resend_words(status: str) -> str:
    return {"awaiting_approval": "waiting for approval", "sending": "being sent"}.get(status, status)


def has_problem(delivery: Delivery) -> bool:
    """Bounced, dropped, complained, failed or unknown — or accepted with a recipient the server refused,
    or accepted and silent past the alert's hours."""
    if DeliveryStatus(delivery.status) in PROBLEM_STATUSES:
        return True
    if delivery.status == DeliveryStatus.ACCEPTED and delivery.silent_alerted_at is not None:
        return True  # accepted, then silent for too long (services/tracking/silent.py) until news arrives
    results = delivery.recipient_results or {}
    return any(isinstance(r, dict) and r.get("status") in TERMINAL_BAD for r in results.values())


async def resolution_of(session: AsyncSession, delivery: Delivery, invoice: Invoice) -> Resolution | None:
    """None while `delivery` is still its invoice's open problem; else who resolved it, when and how."""
    if not has_problem(delivery):
        return Resolution(None, delivery.updated_at, f"the email was {delivery.status.replace('_', ' ')}")
    if invoice.status == InvoiceStatus.SENT and invoice.sent_via == SentVia.MANUAL:
        return Resolution(invoice.sent_by, invoice.sent_at or invoice.updated_at, "marked as sent manually")
    if invoice.status == InvoiceStatus.PAID:
        return Resolution(None, invoice.paid_at or invoice.updated_at, "the invoice was marked as paid")
    if invoice.status == InvoiceStatus.VOID:
        return Resolution(None, invoice.voided_at or invoice.updated_at, "the invoice was voided")
    latest = (await latest_deliveries(session, [invoice.id])).get(invoice.id)
    if latest is not None and latest.id > delivery.id:
        how = f"resent to {', '.join(latest.to)}, {_resend_words(latest.status)}"
        return Resolution(latest.requested_by, latest.created_at, how)
    return None


async def delivery_and_invoice(
    session: AsyncSession, *, delivery_id: int, organisation_id: int
) -> tuple[Delivery, Invoice]:
    row = (
        await session.execute(
            select(Delivery, Invoice)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .where(Delivery.id == delivery_id, Delivery.organisation_id == organisation_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("There is no such send: it may belong to another workspace or have been removed.")
    return row[0], row[1]


async def alert_resolution(session: AsyncSession, *, delivery_id: int, organisation_id: int) -> Resolution | None:
    delivery, invoice = await delivery_and_invoice(session, delivery_id=delivery_id, organisation_id=organisation_id)
    return await resolution_of(session, delivery, invoice)


@dataclass(frozen=True)
class ResolvedAlert:
    notification_id: int
    delivery_id: int
    ts: str
    payload: dict[str, Any]
    resolution: Resolution


async def _unresolved_alerts(session: AsyncSession, invoice_id: int) -> list[Notification]:
    rows = await session.execute(
        select(Notification)
        .join(Delivery, Delivery.id == Notification.delivery_id)
        .where(
            Delivery.invoice_id == invoice_id,
            Notification.kind == NotificationKind.DELIVERY_ALERT.value,
            Notification.status == NotificationStatus.POSTED,
        )
        .order_by(Notification.id)
    )
    return [n for n in rows.scalars() if RESOLVED_KEY not in (n.payload or {}) and n.posted_ts]


async def resolved_alerts(session: AsyncSession, *, delivery_id: int, organisation_id: int) -> list[ResolvedAlert]:
    """The posted, not yet rewritten alerts of this delivery's invoice whose problem is over."""
    _, invoice = await delivery_and_invoice(session, delivery_id=delivery_id, organisation_id=organisation_id)
    found: list[ResolvedAlert] = []
    resolutions: dict[int, Resolution | None] = {}
    for alert in await _unresolved_alerts(session, invoice.id):
        assert alert.delivery_id is not None  # joined on it
        if alert.delivery_id not in resolutions:
            delivery, _ = await delivery_and_invoice(
                session, delivery_id=alert.delivery_id, organisation_id=organisation_id
            )
            resolutions[alert.delivery_id] = await resolution_of(session, delivery, invoice)
        resolution = resolutions[alert.delivery_id]
        if resolution is not None:
            found.append(
                ResolvedAlert(alert.id, alert.delivery_id, str(alert.posted_ts), dict(alert.payload), resolution)
            )
    return found


async def mark_alert_resolved(session: AsyncSession, *, notification_id: int, resolution: Resolution) -> None:
    """Record that this alert's message now says it is resolved. The caller commits."""
    alert = await session.get(Notification, notification_id)
    if alert is None:
        raise NotFound(f"There is no notification {notification_id}.")
    alert.payload = dict(alert.payload or {}) | {RESOLVED_KEY: resolution.as_payload()}
    await session.flush()


async def owe_alerts_resolved(session: AsyncSession, *, organisation_id: int, invoice_id: int, now: datetime) -> None:
    """Owe Slack the rewrite of this invoice's posted alerts that are now resolved (none owed: nothing).

    Call in the transaction of the change that resolved them; the caller commits.
    """
    await session.flush()
    alerts = await _unresolved_alerts(session, invoice_id)
    if not alerts:
        return
    pending = await session.scalar(
        select(Notification.id)
        .join(Delivery, Delivery.id == Notification.delivery_id)
        .where(
            Delivery.invoice_id == invoice_id,
            Notification.kind == NotificationKind.ALERTS_RESOLVED.value,
            Notification.status == NotificationStatus.PENDING,
            Notification.attempts == 0,
        )
        .limit(1)
    )
    if pending is not None:
        return  # a waiting, never-tried rewrite reads the rows when it runs: it covers this change too
    await enqueue_notification(
        session,
        NotificationRequest(
            organisation_id=organisation_id,
            delivery_id=alerts[-1].delivery_id,
            kind=NotificationKind.ALERTS_RESOLVED,
            channel=None,
            payload={"invoice_id": invoice_id},
        ),
        now=now,
    )


async def owe_alerts_resolved_after(
    session: AsyncSession, *, delivery_id: int, organisation_id: int, now: datetime
) -> None:
    """`owe_alerts_resolved` for the invoice of `delivery_id` (e.g. once a resend was accepted)."""
    _, invoice = await delivery_and_invoice(session, delivery_id=delivery_id, organisation_id=organisation_id)
    await owe_alerts_resolved(session, organisation_id=organisation_id, invoice_id=invoice.id, now=now)
