"""Reminder deliveries as remqueue queues them (kind REMINDER, one per produced reminder), for the send worker's tests.

`queued_reminder` writes what services/reminders/dispatch.py writes: sent invoices of one
customer, the `reminders` row and its `reminder_invoices`, and the delivery row — invoice_id the
first listed invoice, to the customer's addresses, text rendered at dispatch, PDFs attached.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Attachments,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    Reminder,
    ReminderInvoice,
    ReminderState,
    ReminderTone,
    utcnow,
)
from services.sending.checks import new_message_id, new_verp_token
from tests import factories
from tests.harness.sending import SECRET


async def queued_reminder(
    session: AsyncSession,
    org: Organisation,
    numbers: tuple[str, ...] = ("INV-R1", "INV-R2"),
    *,
    customer_name: str = "Acme Corp",
    days_overdue: int = 10,
    step: int = 7,
) -> Delivery:
    """A queued reminder email listing `numbers` (sent invoices, 100.00 EUR each, `days_overdue` late)."""
    today = utcnow().date()  # read when the test runs
    owner = await factories.customer(session, org.id, name=customer_name, emails=("ap@acme.example",))
    invoices: list[Invoice] = []
    for number in numbers:
        invoices.append(
            await factories.invoice(
                session,
                org.id,
                owner,
                number=number,
                due=today - timedelta(days=days_overdue),
                status=InvoiceStatus.SENT,
            )
        )
    reminder = Reminder(
        organisation_id=org.id, customer_id=owner.id, step_offset=step, tone=ReminderTone.FIRM, fee=None,
        cohort=today, state=ReminderState.SENT, note="",
    )  # fmt: skip
    session.add(reminder)
    await session.flush()
    session.add_all(
        ReminderInvoice(reminder_id=reminder.id, invoice_id=invoice.id, step_offset=step) for invoice in invoices
    )
    delivery = Delivery(
        organisation_id=org.id, invoice_id=invoices[0].id, kind=DeliveryKind.REMINDER, reminder_id=reminder.id,
        status=DeliveryStatus.QUEUED, to=["ap@acme.example"], cc=[], bcc=[],
        subject=f"Reminder: {', '.join(numbers)}", body_text="Rendered at dispatch.\n", language="en",
        attachments=Attachments.PDF, message_id=new_message_id(f"reminder-{reminder.id}", "example.com"),
        verp_token=new_verp_token(SECRET), requested_by="reminders", next_attempt_at=utcnow(),
    )  # fmt: skip
    session.add(delivery)
    await session.commit()
    return delivery
