"""The reminder planner: what is due for an organisation at a moment, as set-based SQL.

An invoice is *at* a step when that step is the latest of its ladder whose offset is at most its
days past due (in the organisation's local date at the moment); it is due for that step unless
already reminded for it (`reminder_invoices`, one row per invoice and step). Only the latest
reached step counts, so a schedule evaluated days late (after an outage) catches each invoice up
once, never with every step it missed; a step missed by more than `max_lateness_days` is planned
as *skipped*, with a note, instead of being sent late.

Stop rules, all in the one query: only sent invoices (not draft, validated-but-unsent, paid or
void); none disputed, none with a promise to pay running, none of a paused customer; none marked
as sent manually unless a person turned its reminders on, none a person turned off. Amounts owed
come from `balance_of` (services/invoicing/payments.py); an invoice with nothing outstanding is
dropped. One planned reminder per customer, step and state lists all its invoices at that step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, case, exists, literal, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Customer,
    CustomerReminderState,
    DocumentKind,
    Invoice,
    InvoiceReminderState,
    InvoiceStatus,
    Organisation,
    ReminderInvoice,
    ReminderState,
    SentVia,
)
from services.errors import NotFound
from services.invoicing.balance import touched_by_payment_or_credit
from services.invoicing.payments import balance_of, credited_amounts, paid_amounts
from services.invoicing.schedule_settings import local_date
from services.invoicing.settings_store import stored_settings
from services.money import round_money
from services.reminders.ladder import Step, customer_overrides, organisation_ladder

DEFAULT_MAX_LATENESS_DAYS = 7
ID_CHUNK = 5000  # ids per IN (…): under SQLite's and asyncpg's limit on bound parameters


@dataclass(frozen=True)
class PlannedInvoice:
    """One invoice a reminder lists: what is still owed and how late it is (negative: not due yet)."""

    invoice_id: int
    number: str
    due_date: date
    currency: str
    outstanding: Decimal
    days_overdue: int


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder for a customer at a step: queued (to send) or skipped (missed by too much), with why."""

    customer_id: int
    customer_name: str
    step: Step
    state: ReminderState
    note: str
    invoices: tuple[PlannedInvoice, ...]


@dataclass(frozen=True)
class ReminderPlan:
    """What is due for an organisation on its local date `today`."""

    organisation_id: int
    today: date
    reminders: tuple[PlannedReminder, ...]


async def local_today(session: AsyncSession, *, organisation_id: int, moment: datetime) -> date:
    """The organisation's local date at `moment` (its time zone, UTC before settings exist)."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"No organisation {organisation_id}.")
    values = await stored_settings(session, organisation)
    return local_date(values.time_zone if values else None, moment)


def _step_reached(today: date, offsets: Iterable[int]) -> Any:
    """The latest of a ladder's steps (their `offsets`) an invoice has reached, from its due date
    alone: a CASE, no join; NULL when it reached none."""
    whens = [
        (Invoice.due_date <= today - timedelta(days=offset), literal(offset, Integer))
        for offset in sorted(set(offsets), reverse=True)
    ]
    return case(*whens, else_=None) if whens else null()


def stop_rules(query: Select[Any], organisation_id: int, today: date, reached_by: date) -> Select[Any]:
    """`query` (over invoices) narrowed to open invoices no stop rule holds back, that reached a first step.

    The one place the stop rules are written: the planner uses it, and so does the send worker
    when a reminder goes out (services.reminders.owed), so a reminder held back here is never sent."""
    flags, pause = InvoiceReminderState, CustomerReminderState
    not_manual = or_(Invoice.sent_via.is_(None), Invoice.sent_via != SentVia.MANUAL.value)
    return (
        query.outerjoin(flags, flags.invoice_id == Invoice.id)
        .outerjoin(pause, pause.customer_id == Invoice.customer_id)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.status == InvoiceStatus.SENT.value,
            Invoice.kind == DocumentKind.INVOICE.value,  # a credit note asks for nothing: never reminded
            Invoice.due_date <= reached_by,
            or_(flags.reminders_on == true(), and_(flags.reminders_on.is_(None), not_manual)),
            flags.disputed_at.is_(None),
            or_(flags.promised_until.is_(None), flags.promised_until < today),
            or_(pause.paused_until.is_(None), pause.paused_until < today),
        )
    )


def _own_ladders(today: date, overrides: dict[int, tuple[Step, ...]]) -> list[tuple[Any, Any]]:
    """CASE branches for the customers with their own ladder: customers grouped by their ladder's
    offsets, each group the step it reached on that ladder. A hashed IN list instead of a probe of
    `reminder_steps` per open invoice; the ids are integers read from the database, rendered inline
    (`literal_execute`), so any number of customers fits one statement."""
    by_offsets: dict[tuple[int, ...], list[int]] = {}
    for customer_id, steps in overrides.items():
        by_offsets.setdefault(tuple(sorted({step.offset_days for step in steps})), []).append(customer_id)
    return [
        (
            Invoice.customer_id.in_(bindparam(f"own_ladder_{n}", sorted(ids), expanding=True, literal_execute=True)),
            _step_reached(today, offsets),
        )
        for n, (offsets, ids) in enumerate(sorted(by_offsets.items()))
    ]


def due_query(
    organisation_id: int, today: date, ladder: Sequence[Step], overrides: dict[int, tuple[Step, ...]]
) -> Select[int, int, int | None, str, date, str, Decimal, bool, str]:
    """(invoice id, customer id, step, number, due date, currency, total, touched, customer name) of every
    invoice due for a step today; `touched`: it has a payment or an issued credit note, so its balance
    must be read (services/invoicing/balance.py), else it owes its total.

    One scan of the open invoices: the step is a CASE of the due date on the organisation's ladder,
    or, for a customer with its own ladder, the latest of its steps reached; the (invoice, step)
    pairs already reminded are left out through the unique index on them. The flag and the name are
    scalar subqueries of the output, so they are probed for the few rows left, not for every open
    invoice (a join would be planned before the anti-join), and spare the planner a round trip per id list.
    """
    step = _step_reached(today, (s.offset_days for s in ladder))
    first_step = min(s.offset_days for s in ladder)
    if overrides:
        step = case(*_own_ladders(today, overrides), else_=step)
        first_step = min([first_step, *(s.offset_days for steps in overrides.values() for s in steps)])
    columns = (Invoice.id, Invoice.customer_id, step.label("step"), Invoice.number, Invoice.due_date)
    scan = select(*columns, Invoice.currency, Invoice.total)
    due = stop_rules(scan, organisation_id, today, today - timedelta(days=first_step)).subquery("due")
    reminded = exists().where(ReminderInvoice.invoice_id == due.c.id, ReminderInvoice.step_offset == due.c.step)
    touched = touched_by_payment_or_credit(due.c.id).label("touched")
    name = select(Customer.name).where(Customer.id == due.c.customer_id).scalar_subquery().label("customer_name")
    return (
        select(
            due.c.id,
            due.c.customer_id,
            due.c.step,
            due.c.number,
            due.c.due_date,
            due.c.currency,
            due.c.total,
            touched,
            name,
        )
        .where(~reminded)  # a NULL step (a customer's own ladder not reached yet) is dropped by the caller:
        # a filter on it here would make PostgreSQL expect one row and plan nested loops
        .order_by(due.c.customer_id, due.c.step, due.c.due_date, due.c.id)
    )


async def _balances(session: AsyncSession, ids: Sequence[int]) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Paid and credited sums of `ids` (the few touched invoices), in chunks a statement can bind."""
    paid: dict[int, Decimal] = {}
    credited: dict[int, Decimal] = {}
    for start in range(0, len(ids), ID_CHUNK):  # a catch-up can reach more invoices than a statement takes ids
        chunk = ids[start : start + ID_CHUNK]
        paid.update(await paid_amounts(session, chunk))
        credited.update(await credited_amounts(session, chunk))
    return paid, credited


async def plan_reminders(
    session: AsyncSession,
    *,
    organisation_id: int,
    moment: datetime,
    max_lateness_days: int = DEFAULT_MAX_LATENESS_DAYS,
) -> ReminderPlan:
    """What is due at `moment` (aware); reads only. `produce_due` writes it (services/reminders/produce.py).

    Rows are read as Core tuples on the session's connection: the ORM adds nothing to plain columns
    and costs per row on the hot path (benchmarks/reminders_plan.py).
    """
    today = await local_today(session, organisation_id=organisation_id, moment=moment)
    ladder = await organisation_ladder(session, organisation_id=organisation_id)
    overrides = await customer_overrides(session, organisation_id=organisation_id)
    connection = await session.connection()
    rows = (await connection.execute(due_query(organisation_id, today, ladder, overrides))).all()
    paid, credited = await _balances(session, [row[0] for row in rows if row[7] and row[2] is not None])
    groups: dict[tuple[int, int, ReminderState], list[PlannedInvoice]] = {}
    lateness: dict[tuple[int, int, ReminderState], int] = {}
    names: dict[int, str] = {}
    for invoice_id, customer_id, offset, number, due_date, currency, total, _touched, name in rows:
        if offset is None:
            continue
        outstanding = balance_of(total, paid.get(invoice_id), credited.get(invoice_id)).outstanding
        if outstanding <= 0:
            continue
        overdue = (today - due_date).days
        late = overdue - offset
        state = ReminderState.SKIPPED if late > max_lateness_days else ReminderState.QUEUED
        key = (customer_id, offset, state)
        planned = PlannedInvoice(invoice_id, number, due_date, currency, round_money(outstanding, currency), overdue)
        if key in groups:
            groups[key].append(planned)
            lateness[key] = max(lateness[key], late)
        else:
            groups[key], lateness[key], names[customer_id] = [planned], max(late, 0), name
    reminders = []
    for (customer_id, offset, state), invoices in groups.items():
        steps = overrides.get(customer_id) or ladder
        step = next(step for step in steps if step.offset_days == offset)
        note = _note(state, lateness[(customer_id, offset, state)], max_lateness_days)
        reminders.append(PlannedReminder(customer_id, names[customer_id], step, state, note, tuple(invoices)))
    return ReminderPlan(organisation_id, today, tuple(reminders))


def _note(state: ReminderState, late: int, max_lateness_days: int) -> str:
    if state == ReminderState.SKIPPED:
        return f"skipped: the step was missed by {late} days, more than the {max_lateness_days} allowed; not sent late"
    if late > 0:
        return f"catch-up: the step was reached {late} day{'s' if late != 1 else ''} ago"
    return ""


async def let_through(
    session: AsyncSession, *, organisation_id: int, today: date, invoice_ids: Sequence[int]
) -> set[int]:
    """Which of `invoice_ids` no stop rule holds back on `today` (the planner's own `stop_rules`,
    whatever step they reached): what Slack's reminder views say "next step" from, so the views and
    the schedule can never disagree. Balances are not looked at here (see `plan_reminders`)."""
    found: set[int] = set()
    for start in range(0, len(invoice_ids), ID_CHUNK):
        chunk = list(invoice_ids[start : start + ID_CHUNK])
        query = stop_rules(select(Invoice.id), organisation_id, today, date.max).where(Invoice.id.in_(chunk))
        found.update((await session.scalars(query)).all())
    return found


def step_reached(due_date: date, today: date, steps: Sequence[Step]) -> Step | None:
    """The latest of `steps` an invoice due on `due_date` has reached on `today` (None: none yet):
    the same rule as `_step_reached`'s CASE, for one invoice already in hand."""
    reached = [step for step in steps if due_date <= today - timedelta(days=step.offset_days)]
    return max(reached, default=None)
