"""The invoice follows its email: a bounce after `sent` makes it unsent again, a late
delivery report of an email in doubt makes it sent.

Called where delivery events are filed (services.tracking.filing), in the same transaction,
for the deliveries whose status the batch moved; and by the send worker's group commit
(services.sending.outcomes) for an email that failed or ended in doubt at the SMTP stage.
Only the invoice's *latest* email counts (an old bounce does not undo a later successful
send), and only an invoice an email marked as sent is reverted: one marked as sent by hand, paid or void is left alone.
Every change goes through the invoice's own transition functions (services.invoicing.invoices),
which audit it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryKind, DeliveryStatus, Invoice, InvoiceStatus, SentVia
from services.invoicing.emailed import emails_not_received
from services.invoicing.invoices import email_not_received, email_received_after_all
from services.invoicing.states import NOT_RECEIVED, SENT_OK, latest_deliveries, not_received_words


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
            await email_not_received(session, invoice, delivery_id=delivery.id, why=not_received_words(newest), now=now)
        elif (
            status in SENT_OK
            and status_before.get(delivery_id) == DeliveryStatus.UNKNOWN
            and invoice.status == InvoiceStatus.VALIDATED
        ):
            await email_received_after_all(session, invoice, delivery=delivery, now=now)
    await session.flush()


def unsend_after_send_failures(
    connection: Connection, *, failures: Sequence[tuple[int, int, str]], now: datetime
) -> None:
    """The worker's side of the same rule: (invoice id, delivery id, why) of invoice emails that
    failed or ended in doubt at the SMTP stage. An invoice an earlier email had marked `sent`
    is owed again when this email is its latest — the invoice's own move, `emails_not_received`."""
    emails_not_received(connection, failures=failures, now=now)
