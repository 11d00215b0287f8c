"""Test data for reminders, written through the real services: customers, sent invoices, payments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import Customer, InvoiceStatus, PaymentSource, Reminder, ReminderInvoice
from services.invoicing.invoices import InvoiceAct, mark_sent_manually
from services.invoicing.payments import PaymentRequest, record_payment
from tests import factories


async def sent_invoice(
    session: AsyncSession, organisation_id: int, owner: Customer, number: str, due: date, amount: str = "100.00"
) -> None:
    """An invoice sent by email (status sent), committed."""
    await factories.invoice(
        session, organisation_id, owner, number=number, due=due, status=InvoiceStatus.SENT, amount=amount
    )
    await session.commit()


async def manual_invoice(session: AsyncSession, organisation_id: int, owner: Customer, number: str, due: date) -> None:
    """An invoice marked as sent manually (it went out by other means), committed."""
    await factories.invoice(session, organisation_id, owner, number=number, due=due)
    act = InvoiceAct(organisation_id=organisation_id, number=number, actor="U_ALICE", rules=ApprovalRules())
    await mark_sent_manually(session, act)
    await session.commit()


async def pay(session: AsyncSession, organisation_id: int, number: str, amount: str | None = None) -> None:
    request = PaymentRequest(
        number=number,
        amount=None if amount is None else Decimal(amount),
        paid_on=date(2026, 12, 1),
        actor="U_ALICE",
        source=PaymentSource.CLI,
    )
    await record_payment(session, organisation_id=organisation_id, rules=ApprovalRules(), request=request)
    await session.commit()


async def stored_reminders(session: AsyncSession) -> list[tuple[int, int, str, list[int]]]:
    """(customer id, step, state, invoice ids) of every reminder row, as the database holds them."""
    await session.commit()  # a new transaction: see what the producers committed
    fresh = select(Reminder).order_by(Reminder.id).execution_options(populate_existing=True)
    reminders = (await session.scalars(fresh)).all()
    links = (await session.execute(select(ReminderInvoice.reminder_id, ReminderInvoice.invoice_id))).all()
    return [
        (
            reminder.customer_id,
            reminder.step_offset,
            reminder.state.value,
            sorted(invoice_id for reminder_id, invoice_id in links if reminder_id == reminder.id),
        )
        for reminder in reminders
    ]
