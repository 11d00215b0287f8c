"""What Slack shows about reminders: a customer's overview and one invoice's reminder history and next step.

Read-only and Slack-free. Whether an invoice will be reminded is decided by the planner's own rules
(services.reminders.plan: `let_through` runs its stop-rule query, `step_reached` its step rule), so
these views and the schedule never disagree; the `Stop` an invoice reports only *names* which of
those rules holds it back, for the person reading. Dates are the organisation's local dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Customer,
    CustomerReminderState,
    Delivery,
    DocumentKind,
    Invoice,
    InvoiceReminderState,
    InvoiceStatus,
    Reminder,
    ReminderInvoice,
    ReminderState,
    SentVia,
)
from services.errors import NotFound
from services.invoicing.payments import balance_of, credited_amounts, paid_amounts
from services.invoicing.search import escape_like
from services.reminders.ladder import Step, customer_by_ref, customer_overrides, ladder_for_customer
from services.reminders.plan import ID_CHUNK, let_through, step_reached

MAX_MATCHES = 10
MAX_OPEN_SHOWN = 20  # a customer's open invoices listed (oldest due first); the rest are counted
MAX_HISTORY = 10  # reminder lines per invoice, newest kept


class Stop(StrEnum):
    """Why no reminder is planned for an invoice; the data that goes with it sits on `InvoiceReminders`."""

    NOT_SENT = "not_sent"  # draft or validated: reminders start once it is sent
    PAID = "paid"
    VOID = "void"
    CREDIT_NOTE = "credit_note"
    NOTHING_OWED = "nothing_owed"
    DISPUTED = "disputed"
    PROMISED = "promised"  # until `promised_until`
    PAUSED = "paused"  # the customer, until `paused_until`
    SWITCHED_OFF = "switched_off"  # a person turned its reminders off
    SENT_MANUALLY = "sent_manually"  # marked as sent by other means: reminders off unless turned on
    LADDER_DONE = "ladder_done"  # the last step was reached and reminded
    HELD = "held"  # a stop rule holds it that none of the above names


@dataclass(frozen=True)
class NextReminder:
    """The step an invoice reaches next and the day it goes out (today: with the next run), or why none."""

    step: Step | None = None
    on: date | None = None
    stop: Stop | None = None
    until: date | None = None  # the last day of the promise or the pause that holds it (inclusive)

    @property
    def resumes_on(self) -> date | None:
        """The day the ladder picks up again by itself (the day after a promise or pause ends)."""
        return None if self.until is None else self.until + timedelta(days=1)


@dataclass(frozen=True)
class ReminderLine:
    """One reminder that listed the invoice; `email_status` None while no email was made of it."""

    step_offset: int
    tone: str
    cohort: date
    state: ReminderState
    note: str
    email_status: str | None


@dataclass(frozen=True)
class InvoiceReminders:
    """An invoice as the reminder views show it."""

    number: str
    due_date: date
    currency: str
    total: Decimal
    paid: Decimal
    credited: Decimal
    outstanding: Decimal
    days_overdue: int  # negative: not due yet
    disputed_by: str | None
    disputed_reason: str | None
    promised_until: date | None
    history: tuple[ReminderLine, ...]
    next: NextReminder


@dataclass(frozen=True)
class CustomerOverview:
    ref: str
    name: str
    today: date
    ladder: tuple[Step, ...]
    own_ladder: bool  # the customer's override, else the organisation's
    paused_until: date | None  # only while running (from today on)
    paused_by: str | None
    invoices: tuple[InvoiceReminders, ...]  # open ones, oldest due first, at most MAX_OPEN_SHOWN
    more_open: int  # open invoices not listed

    @property
    def next(self) -> NextReminder | None:
        """The soonest reminder any listed invoice is waiting for (None: none planned)."""
        planned = [item.next for item in self.invoices if item.next.on is not None]
        return min(planned, key=lambda n: n.on or date.max) if planned else None


async def find_customers(session: AsyncSession, *, organisation_id: int, text: str) -> tuple[Customer, ...]:
    """Customers `text` names: an exact reference or name (any case) wins alone; else those whose
    name or reference contains it (at most MAX_MATCHES + 1, so a caller can say "more"); none: NotFound."""
    needle = text.strip().lower()
    if not needle:
        raise NotFound("Which customer? Give a name or a reference.")
    own = Customer.organisation_id == organisation_id
    exact = select(Customer).where(own, or_(func.lower(Customer.ref) == needle, func.lower(Customer.name) == needle))
    found = (await session.scalars(exact.order_by(Customer.id).limit(2))).all()
    if len(found) == 1:
        return tuple(found)
    pattern = f"%{escape_like(needle)}%"
    like = or_(
        func.lower(Customer.name).like(pattern, escape="\\"), func.lower(Customer.ref).like(pattern, escape="\\")
    )
    query = select(Customer).where(own, like).order_by(Customer.name, Customer.id).limit(MAX_MATCHES + 1)
    matches = tuple((await session.scalars(query)).all())
    if not matches:
        raise NotFound(f"No customer's name or reference contains {text.strip()!r}.")
    return matches


async def customer_overview(
    session: AsyncSession, *, organisation_id: int, customer: Customer, today: date
) -> CustomerOverview:
    """The customer's open (sent, still owed) invoices with their stops and next reminder, its ladder and
    pause, on the organisation's local date `today` (plan.local_today gives it for a moment)."""
    ladder = await ladder_for_customer(session, organisation_id=organisation_id, customer_id=customer.id)
    own = customer.id in await customer_overrides(session, organisation_id=organisation_id)
    pause = await session.get(CustomerReminderState, customer.id)
    query = (
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.customer_id == customer.id,
            Invoice.status == InvoiceStatus.SENT.value,
            Invoice.kind == DocumentKind.INVOICE.value,
        )
        .order_by(Invoice.due_date, Invoice.id)
    )
    sent = (await session.scalars(query)).all()
    items = await _reminders_of(session, organisation_id, today, ladder, pause, sent)
    open_items = [item for item in items if item.outstanding > 0]
    running = pause is not None and pause.paused_until is not None and pause.paused_until >= today
    return CustomerOverview(
        ref=customer.ref,
        name=customer.name,
        today=today,
        ladder=ladder,
        own_ladder=own,
        paused_until=pause.paused_until if running and pause else None,
        paused_by=pause.paused_by if running and pause else None,
        invoices=tuple(open_items[:MAX_OPEN_SHOWN]),
        more_open=max(0, len(open_items) - MAX_OPEN_SHOWN),
    )


async def overview_by_ref(session: AsyncSession, *, organisation_id: int, ref: str, today: date) -> CustomerOverview:
    """`customer_overview` of the customer with this reference (NotFound with a sentence otherwise)."""
    customer = await customer_by_ref(session, organisation_id=organisation_id, ref=ref)
    return await customer_overview(session, organisation_id=organisation_id, customer=customer, today=today)


async def invoice_reminders(session: AsyncSession, *, invoice: Invoice, today: date) -> InvoiceReminders:
    """One invoice's reminder history and next step (or the stop that holds it) on the organisation's
    local date `today`, for `/invoices show`."""
    organisation_id = invoice.organisation_id
    ladder = await ladder_for_customer(session, organisation_id=organisation_id, customer_id=invoice.customer_id)
    pause = await session.get(CustomerReminderState, invoice.customer_id)
    [item] = await _reminders_of(session, organisation_id, today, ladder, pause, [invoice])
    return item


async def _reminders_of(
    session: AsyncSession,
    organisation_id: int,
    today: date,
    ladder: tuple[Step, ...],
    pause: CustomerReminderState | None,
    invoices: Sequence[Invoice],
) -> list[InvoiceReminders]:
    if len(invoices) > ID_CHUNK:  # a statement's bound parameters are limited (SQLite, asyncpg)
        items = []
        for start in range(0, len(invoices), ID_CHUNK):
            chunk = invoices[start : start + ID_CHUNK]
            items += await _reminders_of(session, organisation_id, today, ladder, pause, chunk)
        return items
    ids = [invoice.id for invoice in invoices]
    if not ids:
        return []
    paid, credited = await paid_amounts(session, ids), await credited_amounts(session, ids)
    flags = {
        row.invoice_id: row
        for row in (
            await session.scalars(select(InvoiceReminderState).where(InvoiceReminderState.invoice_id.in_(ids)))
        ).all()
    }
    allowed = await let_through(session, organisation_id=organisation_id, today=today, invoice_ids=ids)
    histories = await _histories(session, ids)
    items = []
    for invoice in invoices:
        balance = balance_of(invoice.total, paid.get(invoice.id), credited.get(invoice.id))
        flag = flags.get(invoice.id)
        history = histories.get(invoice.id, [])
        context = _Context(today, ladder, pause, flag, invoice.id in allowed)
        items.append(
            InvoiceReminders(
                number=invoice.number,
                due_date=invoice.due_date,
                currency=invoice.currency,
                total=invoice.total,
                paid=balance.paid,
                credited=balance.credited,
                outstanding=balance.outstanding,
                days_overdue=(today - invoice.due_date).days,
                disputed_by=flag.disputed_by if flag and flag.disputed_at else None,
                disputed_reason=flag.disputed_reason if flag and flag.disputed_at else None,
                promised_until=flag.promised_until
                if flag and flag.promised_until and flag.promised_until >= today
                else None,
                history=tuple(history[-MAX_HISTORY:]),
                next=_next(invoice, balance.outstanding, {line.step_offset for line in history}, context),
            )
        )
    return items


@dataclass(frozen=True)
class _Context:
    today: date
    ladder: tuple[Step, ...]
    pause: CustomerReminderState | None
    flag: InvoiceReminderState | None
    let_through: bool


def _next(invoice: Invoice, outstanding: Decimal, reminded: set[int], context: _Context) -> NextReminder:
    status = InvoiceStatus(invoice.status)
    if invoice.kind != DocumentKind.INVOICE.value:
        return NextReminder(stop=Stop.CREDIT_NOTE)
    if status in (InvoiceStatus.DRAFT, InvoiceStatus.VALIDATED):
        return NextReminder(stop=Stop.NOT_SENT)
    if status == InvoiceStatus.PAID:
        return NextReminder(stop=Stop.PAID)
    if status == InvoiceStatus.VOID:
        return NextReminder(stop=Stop.VOID)
    if outstanding <= 0:
        return NextReminder(stop=Stop.NOTHING_OWED)
    if not context.let_through:
        return _held(invoice, context)
    return _coming(invoice.due_date, context.today, context.ladder, reminded)


def _coming(due_date: date, today: date, ladder: tuple[Step, ...], reminded: set[int]) -> NextReminder:
    """The step the planner takes next: the one reached if not reminded yet (today), else the next rung."""
    reached = step_reached(due_date, today, ladder)
    if reached is not None and reached.offset_days not in reminded:
        return NextReminder(step=reached, on=today)
    after = reached.offset_days if reached is not None else None
    for step in ladder:
        if (after is None or step.offset_days > after) and step.offset_days not in reminded:
            return NextReminder(step=step, on=due_date + timedelta(days=step.offset_days))
    return NextReminder(stop=Stop.LADDER_DONE)


def _held(invoice: Invoice, context: _Context) -> NextReminder:
    """Which of the planner's stop rules holds `invoice` (the query said one does), in the order a person acts on."""
    flag, pause, today = context.flag, context.pause, context.today
    if flag is not None and flag.disputed_at is not None:
        return NextReminder(stop=Stop.DISPUTED)
    if flag is not None and flag.promised_until is not None and flag.promised_until >= today:
        return NextReminder(stop=Stop.PROMISED, until=flag.promised_until)
    if pause is not None and pause.paused_until is not None and pause.paused_until >= today:
        return NextReminder(stop=Stop.PAUSED, until=pause.paused_until)
    if flag is not None and flag.reminders_on is False:
        return NextReminder(stop=Stop.SWITCHED_OFF)
    if invoice.sent_via == SentVia.MANUAL.value:
        return NextReminder(stop=Stop.SENT_MANUALLY)
    return NextReminder(stop=Stop.HELD)


async def _histories(session: AsyncSession, invoice_ids: Sequence[int]) -> dict[int, list[ReminderLine]]:
    """invoice id → the reminders that listed it, oldest first, with their email's status when one exists."""
    query = (
        select(ReminderInvoice.invoice_id, Reminder, Delivery.status)
        .join(Reminder, Reminder.id == ReminderInvoice.reminder_id)
        .outerjoin(Delivery, Delivery.reminder_id == Reminder.id)
        .where(ReminderInvoice.invoice_id.in_(list(invoice_ids)))
        .order_by(Reminder.cohort, Reminder.step_offset, Reminder.id)
    )
    found: dict[int, list[ReminderLine]] = {}
    for invoice_id, reminder, email_status in (await session.execute(query)).all():
        line = ReminderLine(
            step_offset=reminder.step_offset,
            tone=str(reminder.tone),
            cohort=reminder.cohort,
            state=ReminderState(reminder.state),
            note=reminder.note,
            email_status=None if email_status is None else str(email_status),
        )
        found.setdefault(invoice_id, []).append(line)
    return found
