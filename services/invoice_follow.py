"""The invoice follows its email: a bounce after `sent` makes it unsent again, a late
delivery report of an email in doubt makes it sent.

Called where delivery events are filed (services.event_filing), in the same transaction,
for the deliveries whose status the batch moved. Only the invoice's *latest* email counts
(an old bounce does not undo a later successful send), and only an invoice the email
itself marked as sent is reverted: one marked as sent by hand, paid or void is left alone.
Every change is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import record_audit
from services.db.models import Delivery, DeliveryKind, DeliveryStatus, Invoice, InvoiceStatus, SentVia
from services.invoice_states import NOT_RECEIVED, SENT_OK, latest_deliveries, not_received_words

EVENTS_ACTOR = "events"


async def follow_invoice_emails(
    session: AsyncSession, *, moved: Mapping[int, Delivery], status_before: Mapping[int, str], now: datetime
) -> None:
    """Move each invoice whose latest email just became not-received or turned out delivered. The caller commits."""
    invoice_ids = sorted({d.invoice_id for d in moved.values() if d.kind == DeliveryKind.INVOICE})
    if not invoice_ids:
        return
    latest = await latest_deliveries(session, invoice_ids)
    invoices = {
        invoice.id: invoice
        for invoice in (
            await session.execute(
                select(Invoice).where(Invoice.id.in_(invoice_ids)).order_by(Invoice.id).with_for_update()
            )
        ).scalars()
    }
    for delivery_id, delivery in sorted(moved.items()):
        invoice = invoices.get(delivery.invoice_id)
        newest = latest.get(delivery.invoice_id)
        if invoice is None or newest is None or newest.id != delivery_id:
            continue
        status = DeliveryStatus(delivery.status)
        if status in NOT_RECEIVED and invoice.status == InvoiceStatus.SENT and invoice.sent_via == SentVia.EMAIL:
            _unsend(session, invoice, delivery, why=not_received_words(newest), now=now)
        elif (
            status in SENT_OK
            and status_before.get(delivery_id) == DeliveryStatus.UNKNOWN
            and invoice.status == InvoiceStatus.VALIDATED
        ):
            _sent_after_all(session, invoice, delivery, now=now)
    await session.flush()


def _unsend(session: AsyncSession, invoice: Invoice, delivery: Delivery, *, why: str, now: datetime) -> None:
    """Back to validated: the invoice is owed again and `/invoices due` lists it with `why`."""
    record_audit(
        session,
        organisation_id=invoice.organisation_id,
        actor=EVENTS_ACTOR,
        action="invoice.not_received",
        subject_type="invoice",
        subject_id=invoice.id,
        detail={"number": invoice.number, "from": str(invoice.status), "delivery_id": delivery.id, "why": why},
    )
    invoice.status = InvoiceStatus.VALIDATED
    invoice.sent_at = None
    invoice.sent_via = None
    invoice.sent_by = None
    invoice.updated_at = now


def _sent_after_all(session: AsyncSession, invoice: Invoice, delivery: Delivery, *, now: datetime) -> None:
    """An email in doubt (`unknown`) was reported delivered or opened: the invoice is sent."""
    record_audit(
        session,
        organisation_id=invoice.organisation_id,
        actor=EVENTS_ACTOR,
        action="invoice.sent",
        subject_type="invoice",
        subject_id=invoice.id,
        detail={"number": invoice.number, "from": str(invoice.status), "via": SentVia.EMAIL.value,
                "delivery_id": delivery.id, "after": DeliveryStatus.UNKNOWN.value},
    )  # fmt: skip
    invoice.status = InvoiceStatus.SENT
    invoice.sent_at = delivery.finished_at or now
    invoice.sent_via = SentVia.EMAIL
    invoice.sent_by = delivery.approved_by or delivery.requested_by
    invoice.updated_at = now
