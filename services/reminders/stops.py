"""The stop rules people set: a disputed invoice, a promise to pay, a paused customer, and an
invoice's reminders turned on or off by hand.

The rules that need no person (paid, void, draft or not yet sent, marked as sent manually) are
read by the planner from the invoice itself (services/reminders/plan.py). Each change here is one
unit of work, audited (`reminders.*`), refused with a sentence and nothing written on bad input.
A promise or a pause runs to a date inclusive: reminders resume by themselves the day after.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.clock import utcnow
from services.db.models import CustomerReminderState, Invoice, InvoiceReminderState
from services.errors import InvalidInput, NotFound
from services.field_rules import BadValue, check_text
from services.reminders.ladder import customer_by_ref
from services.unit_of_work import AuditEntry, UnitsOfWork

MAX_REASON = 500


async def _invoice(session: AsyncSession, organisation_id: int, number: str) -> Invoice:
    query = select(Invoice).where(Invoice.organisation_id == organisation_id, Invoice.number == number.strip())
    found = (await session.scalars(query)).first()
    if found is None:
        raise NotFound(f"No invoice numbered {number.strip()!r}.")
    return found


async def _invoice_state(session: AsyncSession, invoice: Invoice) -> InvoiceReminderState:
    state = await session.get(InvoiceReminderState, invoice.id, with_for_update=True)
    if state is None:
        state = InvoiceReminderState(invoice_id=invoice.id, organisation_id=invoice.organisation_id)
        session.add(state)
    return state


def _entry(organisation_id: int, actor: str, action: str, subject: tuple[str, int], **detail: Any) -> AuditEntry:
    return AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action=f"reminders.{action}",
        subject_type=subject[0],
        subject_id=subject[1],
        detail=detail,
    )


async def mark_disputed(
    units: UnitsOfWork, *, organisation_id: int, number: str, actor: str, reason: str, now: datetime | None = None
) -> None:
    """The customer disputes the invoice: no reminder goes out for it until the dispute is lifted."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("Say why the invoice is disputed (the customer's reason), so the next person knows.")
    try:
        text = check_text(text[:MAX_REASON], "reason")
    except BadValue as exc:
        raise InvalidInput(f"{exc}.") from None
    async with units() as unit:
        invoice = await _invoice(unit.session, organisation_id, number)
        state = await _invoice_state(unit.session, invoice)
        state.disputed_reason, state.disputed_by, state.disputed_at = text, actor, now or utcnow()
        state.updated_by = actor
        unit.owe_audit(
            _entry(organisation_id, actor, "disputed", ("invoice", invoice.id), number=invoice.number, reason=text)
        )


async def lift_dispute(units: UnitsOfWork, *, organisation_id: int, number: str, actor: str) -> None:
    """The dispute is settled: the invoice climbs its ladder again from the step it is at."""
    async with units() as unit:
        invoice = await _invoice(unit.session, organisation_id, number)
        state = await _invoice_state(unit.session, invoice)
        if state.disputed_at is None:
            raise InvalidInput(f"Invoice {invoice.number} is not disputed.")
        state.disputed_reason = state.disputed_by = state.disputed_at = None
        state.updated_by = actor
        unit.owe_audit(_entry(organisation_id, actor, "dispute_lifted", ("invoice", invoice.id), number=invoice.number))


async def promise_to_pay(
    units: UnitsOfWork, *, organisation_id: int, number: str, actor: str, until: date | None, today: date
) -> None:
    """The customer promised to pay by `until`: no reminder for the invoice until then (None: promise withdrawn)."""
    if until is not None and until < today:
        raise InvalidInput(f"A promise to pay runs to a date from today on; {until.isoformat()} has passed.")
    async with units() as unit:
        invoice = await _invoice(unit.session, organisation_id, number)
        state = await _invoice_state(unit.session, invoice)
        state.promised_until, state.updated_by = until, actor
        until_words = until.isoformat() if until else None
        unit.owe_audit(
            _entry(organisation_id, actor, "promise", ("invoice", invoice.id), number=invoice.number, until=until_words)
        )


async def set_invoice_reminders(
    units: UnitsOfWork, *, organisation_id: int, number: str, actor: str, on: bool | None
) -> None:
    """A person turns an invoice's reminders on (even one marked as sent manually) or off; None: the rule decides."""
    async with units() as unit:
        invoice = await _invoice(unit.session, organisation_id, number)
        state = await _invoice_state(unit.session, invoice)
        state.reminders_on, state.updated_by = on, actor
        unit.owe_audit(
            _entry(organisation_id, actor, "switched", ("invoice", invoice.id), number=invoice.number, on=on)
        )


async def pause_customer(
    units: UnitsOfWork, *, organisation_id: int, customer_ref: str, actor: str, until: date | None, today: date
) -> None:
    """No reminder to this customer up to and including `until` (None: resume now); resumes by itself after."""
    if until is not None and until < today:
        raise InvalidInput(f"A pause runs to a date from today on; {until.isoformat()} has passed.")
    async with units() as unit:
        customer = await customer_by_ref(unit.session, organisation_id=organisation_id, ref=customer_ref)
        state = await unit.session.get(CustomerReminderState, customer.id, with_for_update=True)
        if state is None:
            state = CustomerReminderState(customer_id=customer.id, organisation_id=organisation_id)
            unit.session.add(state)
        state.paused_until, state.paused_by = until, actor
        until_words = until.isoformat() if until else None
        unit.owe_audit(
            _entry(organisation_id, actor, "paused", ("customer", customer.id), ref=customer.ref, until=until_words)
        )
