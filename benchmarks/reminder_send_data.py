"""The reminder-send benchmark's data: queued reminder deliveries, each listing 2 sent invoices of its customer.

Built on bulk_send's data (the same organisation, 50 customers and 10–30-line invoices), so
both benchmarks render comparable PDFs: `build_data` makes 2 × N invoices, whose invoice
deliveries are dropped; the invoices become sent and overdue, and each customer's invoices
are paired into reminders as remqueue writes them (services/reminders/dispatch.py): the
`reminders` row, its `reminder_invoices`, one delivery of kind REMINDER (PDFs attached).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from benchmarks.bulk_send_data import IDENTITY, build_data
from services.db.engine import create_engine, session_factory
from services.db.models import (
    Attachments,
    Customer,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Reminder,
    ReminderInvoice,
    ReminderState,
    ReminderTone,
    utcnow,
)
from services.sending.pipeline import PreparedSend, RenderJob, prepare_sends

STEP = 7  # the step every benchmark reminder is for


async def build_reminder_data(url: str, reminders: int) -> None:
    """A fresh schema with `reminders` queued reminder deliveries, each listing 2 invoices of one customer."""
    await build_data(url, 2 * reminders)
    engine = create_engine(url)
    sessions = session_factory(engine)
    today = utcnow().date()  # read when the benchmark runs
    async with sessions() as session:
        await session.execute(delete(Delivery))
        await session.execute(
            update(Invoice).values(status=InvoiceStatus.SENT, due_date=today - timedelta(days=STEP + 3))
        )
        rows = (await session.execute(select(Invoice.id, Invoice.customer_id).order_by(Invoice.id))).all()
        by_customer: dict[int, list[int]] = {}
        for invoice_id, customer_id in rows:
            by_customer.setdefault(customer_id, []).append(invoice_id)
        pairs = [
            (customer_id, ids[k : k + 2]) for customer_id, ids in by_customer.items() for k in range(0, len(ids) - 1, 2)
        ][:reminders]
        organisation_id = (await session.execute(select(Customer.organisation_id).limit(1))).scalar_one()
        emails = dict((await session.execute(select(Customer.id, Customer.emails))).tuples().all())
        # one reminder per (customer, step, cohort, state): each gets a cohort of its own
        reminder_ids = [
            (
                await session.execute(
                    insert(Reminder).returning(Reminder.id),
                    [
                        {
                            "organisation_id": organisation_id,
                            "customer_id": customer_id,
                            "step_offset": STEP,
                            "tone": ReminderTone.FIRM,
                            "fee": None,
                            "cohort": today - timedelta(days=n),
                            "state": ReminderState.QUEUED,
                            "note": "",
                        }
                    ],
                )
            ).scalar_one()
            for n, (customer_id, _) in enumerate(pairs)
        ]
        await session.execute(
            insert(ReminderInvoice),
            [
                {"reminder_id": reminder_id, "invoice_id": invoice_id, "step_offset": STEP}
                for reminder_id, (_, ids) in zip(reminder_ids, pairs, strict=True)
                for invoice_id in ids
            ],
        )
        now = utcnow()
        await session.execute(
            insert(Delivery),
            [
                {
                    "organisation_id": organisation_id,
                    "invoice_id": ids[0],
                    "kind": DeliveryKind.REMINDER,
                    "reminder_id": reminder_id,
                    "status": DeliveryStatus.QUEUED,
                    "to": list(emails[customer_id]),
                    "cc": [],
                    "bcc": [],
                    "subject": f"Reminder {n}",
                    "body_text": "Rendered at dispatch.\n",
                    "language": "en",
                    "attachments": Attachments.PDF,
                    "message_id": f"<bench-reminder-{n}@example.com>",
                    "verp_token": f"rem{n:07d}",
                    "requested_by": "reminders",
                    "next_attempt_at": now,
                    "recipient_results": {},
                }
                for n, (reminder_id, (customer_id, ids)) in enumerate(zip(reminder_ids, pairs, strict=True))
            ],
        )
        await session.commit()
    await engine.dispose()


async def prepare_reminder_jobs(url: str) -> list[RenderJob]:
    """The render jobs the worker builds for the queued reminders: `prepare_sends`, as in its claim."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        ids = list((await session.execute(select(Delivery.id).order_by(Delivery.id))).scalars())
        prepared: list[PreparedSend] = await session.run_sync(
            lambda sync: prepare_sends(sync, delivery_ids=ids, identity=IDENTITY)
        )
    await engine.dispose()
    stopped = [p for p in prepared if p.job is None]
    if stopped:
        raise RuntimeError(f"{len(stopped)} reminders would not be sent: {stopped[0].outcome}")
    return [p.job for p in prepared if p.job is not None]
