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

from sqlalchemy import ARRAY, Integer, Numeric, String, Table, Text, bindparam, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

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


def _insert(session: AsyncSession, model: Any) -> Any:
    dialect = postgresql if _on_postgresql(session) else sqlite
    return dialect.insert(model.__table__).on_conflict_do_nothing()


def _on_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _unnest_insert(
    table: Table, constants: dict[str, Any], columns: dict[str, tuple[TypeEngine[Any], list[Any]]]
) -> Any:
    """PostgreSQL: `INSERT … SELECT … FROM unnest(arrays) ON CONFLICT DO NOTHING`, one statement with one
    array parameter per column, in the arrays' order. A multi-row VALUES binds every cell as its own
    parameter, in pages, and the binding costs more than the insert (benchmarks/reminders_plan.py)."""
    arrays = (bindparam(name, values, type_=ARRAY(type_)) for name, (type_, values) in columns.items())
    source = func.unnest(*arrays).table_valued(*columns).render_derived()
    fixed = [literal(value, table.c[name].type).label(name) for name, value in constants.items()]
    query = select(*fixed, *(source.c[name] for name in columns))
    return postgresql.insert(table).from_select([*constants, *columns], query).on_conflict_do_nothing()


async def _insert_reminders(
    session: AsyncSession, plan: ReminderPlan, items: Sequence[PlannedReminder], now: datetime
) -> Any:
    """Insert one reminder row per item (none for what another producer wrote); returns the rows written."""
    table: Table = Reminder.__table__
    connection = await session.connection()  # Core on the session's transaction: no ORM work per row
    returning = (table.c.id, table.c.customer_id, table.c.step_offset, table.c.state)
    constants = {"organisation_id": plan.organisation_id, "cohort": plan.today, "created_at": now}
    if _on_postgresql(session):
        columns: dict[str, tuple[TypeEngine[Any], list[Any]]] = {
            "customer_id": (Integer(), [item.customer_id for item in items]),
            "step_offset": (Integer(), [item.step.offset_days for item in items]),
            "tone": (String(), [str(item.step.tone) for item in items]),
            "fee": (Numeric(), [item.step.fee for item in items]),
            "state": (String(), [str(item.state) for item in items]),
            "note": (Text(), [item.note for item in items]),
        }
        return (await connection.execute(_unnest_insert(table, constants, columns).returning(*returning))).all()
    rows = [
        {
            **constants, "customer_id": item.customer_id, "step_offset": item.step.offset_days,
            "tone": item.step.tone, "fee": item.step.fee, "state": item.state, "note": item.note,
        }
        for item in items
    ]  # fmt: skip
    return (await connection.execute(_insert(session, Reminder).returning(*returning), rows)).all()


async def _insert_links(session: AsyncSession, links: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
    """Insert (reminder, invoice, step) links, sorted; returns the (reminder, invoice) pairs written."""
    table: Table = ReminderInvoice.__table__
    connection = await session.connection()
    if _on_postgresql(session):
        columns: dict[str, tuple[TypeEngine[Any], list[Any]]] = {
            "reminder_id": (Integer(), [link[0] for link in links]),
            "invoice_id": (Integer(), [link[1] for link in links]),
            "step_offset": (Integer(), [link[2] for link in links]),
        }
        statement = _unnest_insert(table, {}, columns)
        result = await connection.execute(statement.returning(table.c.reminder_id, table.c.invoice_id))
    else:
        rows = [{"reminder_id": r, "invoice_id": i, "step_offset": o} for r, i, o in links]
        statement = _insert(session, ReminderInvoice).returning(table.c.reminder_id, table.c.invoice_id)
        result = await connection.execute(statement, rows)
    return {(row[0], row[1]) for row in result.all()}


async def write_plan(session: AsyncSession, plan: ReminderPlan, *, now: datetime) -> tuple[PlannedReminder, ...]:
    """Insert the plan's reminders and links, each once across all producers; the caller commits."""
    items = sorted(plan.reminders, key=lambda item: (item.customer_id, item.step.offset_days, item.state))
    if not items:
        return ()
    created = {
        (row.customer_id, row.step_offset, ReminderState(row.state)): row.id
        for row in await _insert_reminders(session, plan, items, now)
    }
    links = [
        (created[key], invoice.invoice_id, item.step.offset_days)
        for item in items
        if (key := (item.customer_id, item.step.offset_days, item.state)) in created
        for invoice in item.invoices
    ]
    links.sort(key=lambda link: (link[1], link[2]))  # in key order: concurrent producers lock in one order
    linked = await _insert_links(session, links) if links else set()
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
