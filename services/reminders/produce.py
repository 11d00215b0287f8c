"""Producing the due reminders exactly once: the rows that are the hand-off to sending.

`produce_due` plans (services/reminders/plan.py) and writes, in one unit of work, a `reminders`
row per planned reminder and a `reminder_invoices` row per invoice it lists. Exactly-once rests
on the database, not on timing: `reminder_invoices` is unique per (invoice, step), and both
inserts are `INSERT … ON CONFLICT DO NOTHING`. Two workers producing at once (N workers on one
PostgreSQL) therefore split the work: the second one's insert waits for the first transaction
and, once it committed, writes nothing for what the first wrote; a reminder left with no invoice
of its own is deleted before commit. Rows are inserted in key order so concurrent producers
take their locks in one order.

The hand-off: a `queued` reminder row is a reminder email owed to its customer. Sending is a
later piece (a delivery per queued row, through the pipeline: approval, suppression, tracking);
it reads rows with `queued_reminders` and is not wired here. `skipped` rows record a step
missed by too much, with their note, so it is never produced again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.clock import utcnow
from services.db.models import Reminder, ReminderInvoice, ReminderState
from services.reminders.plan import DEFAULT_MAX_LATENESS_DAYS, ID_CHUNK, PlannedReminder, ReminderPlan, plan_reminders
from services.unit_of_work import UnitsOfWork


@dataclass(frozen=True)
class Produced:
    """What one run wrote: the plan it acted on and the reminders it produced (not those another run had)."""

    plan: ReminderPlan
    produced: tuple[PlannedReminder, ...]

    @property
    def queued(self) -> int:
        return sum(1 for item in self.produced if item.state == ReminderState.QUEUED)

    @property
    def skipped(self) -> int:
        return sum(1 for item in self.produced if item.state == ReminderState.SKIPPED)


INSERT_PAGE = 10_000  # rows per INSERT … VALUES batch; SQLAlchemy lowers it to the driver's limit on parameters


def _insert(session: AsyncSession, model: Any) -> Any:
    """A Core `INSERT … ON CONFLICT DO NOTHING` in pages as large as the driver takes: each page is one
    round trip and, on PostgreSQL, one statement to prepare, where the default of 1000 rows takes many."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(model.__table__)
        .on_conflict_do_nothing()
        .execution_options(insertmanyvalues_page_size=INSERT_PAGE)
    )


async def write_plan(session: AsyncSession, plan: ReminderPlan, *, now: datetime) -> tuple[PlannedReminder, ...]:
    """Insert the plan's reminders and links, each once across all producers; the caller commits."""
    items = sorted(plan.reminders, key=lambda item: (item.customer_id, item.step.offset_days, item.state))
    if not items:
        return ()
    connection = await session.connection()  # Core on the session's transaction: no ORM work per row
    rows = [
        {
            "organisation_id": plan.organisation_id, "customer_id": item.customer_id,
            "step_offset": item.step.offset_days, "tone": item.step.tone, "fee": item.step.fee,
            "cohort": plan.today, "state": item.state, "note": item.note, "created_at": now,
        }
        for item in items
    ]  # fmt: skip
    statement = _insert(session, Reminder).returning(
        Reminder.id, Reminder.customer_id, Reminder.step_offset, Reminder.state
    )
    created = {
        (row.customer_id, row.step_offset, ReminderState(row.state)): row.id
        for row in (await connection.execute(statement, rows)).all()
    }
    links = [
        {"reminder_id": created[key], "invoice_id": invoice.invoice_id, "step_offset": item.step.offset_days}
        for item in items
        if (key := (item.customer_id, item.step.offset_days, item.state)) in created
        for invoice in item.invoices
    ]
    linked: set[tuple[int, int]] = set()
    if links:
        links.sort(key=lambda link: (link["invoice_id"], link["step_offset"]))
        link_statement = _insert(session, ReminderInvoice).returning(
            ReminderInvoice.reminder_id, ReminderInvoice.invoice_id
        )
        linked = {(row[0], row[1]) for row in (await connection.execute(link_statement, links)).all()}
    empty = set(created.values()) - {reminder_id for reminder_id, _ in linked}
    ordered = sorted(empty)
    for start in range(0, len(ordered), ID_CHUNK):
        await session.execute(delete(Reminder).where(Reminder.id.in_(ordered[start : start + ID_CHUNK])))
    return tuple(_as_produced(items, created, linked))


def _as_produced(
    items: Sequence[PlannedReminder], created: dict[tuple[int, int, ReminderState], int], linked: set[tuple[int, int]]
) -> list[PlannedReminder]:
    produced = []
    for item in items:
        reminder_id = created.get((item.customer_id, item.step.offset_days, item.state))
        if reminder_id is None:
            continue
        mine = tuple(invoice for invoice in item.invoices if (reminder_id, invoice.invoice_id) in linked)
        if mine:
            produced.append(
                PlannedReminder(item.customer_id, item.customer_name, item.step, item.state, item.note, mine)
            )
    return produced


async def produce_due(
    units: UnitsOfWork,
    *,
    organisation_id: int,
    moment: datetime,
    max_lateness_days: int = DEFAULT_MAX_LATENESS_DAYS,
) -> Produced:
    """Plan at `moment` and write what is due, once (see the module doc); one transaction."""
    async with units() as unit:
        plan = await plan_reminders(
            unit.session, organisation_id=organisation_id, moment=moment, max_lateness_days=max_lateness_days
        )
        produced = await write_plan(unit.session, plan, now=utcnow())
    return Produced(plan, produced)


async def queued_reminders(session: AsyncSession, *, organisation_id: int, limit: int = 100) -> list[Reminder]:
    """The hand-off to sending: queued reminder rows, oldest first (sending is not wired yet)."""
    query = (
        select(Reminder)
        .where(Reminder.organisation_id == organisation_id, Reminder.state == ReminderState.QUEUED.value)
        .order_by(Reminder.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
