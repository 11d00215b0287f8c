"""Producing the due reminders exactly once: the rows that are the hand-off to sending.

`produce_due` plans (services/reminders/plan.py) and writes, in one unit of work, a `reminders`
row per planned reminder and a `reminder_invoices` row per invoice it lists. Exactly-once rests
on the database, not on timing: `reminder_invoices` is unique per (invoice, step), and both
inserts are `INSERT … ON CONFLICT DO NOTHING`. Two workers producing at once (N workers on one
PostgreSQL) therefore split the work: the second one's insert waits for the first transaction
and, once it committed, writes nothing for what the first wrote; a reminder left with no invoice
of its own is deleted before commit. Rows are inserted in key order so concurrent producers
take their locks in one order.

The hand-off: a `queued` reminder row is a reminder email owed to its customer; dispatching
(services/reminders/dispatch.py) turns it into one delivery inside the send window, which the
send worker sends (services/sending/reminder_job.py), and marks it `sent`. `skipped` rows record
a step missed by too much, or a reminder that could not go, with their note, so it is never
produced again. One `queued`-or-`sent` row per customer, step and day (a partial unique index):
an invoice reaching a step after that day's reminder was produced waits for the next day's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    literal,
    select,
    true,
    type_coerce,
)
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


Columns = dict[str, tuple[TypeEngine[Any], list[Any]]]  # column → (its element type on PostgreSQL, one value a row)


def _bulk_insert(session: AsyncSession, table: Table, constants: dict[str, Any], columns: Columns) -> Any:
    """`INSERT … SELECT … ON CONFLICT DO NOTHING` of many rows in one statement, in the given order:
    from `unnest` of one array per column on PostgreSQL, from `json_each` of one JSON array of rows
    on SQLite (values already as stored: each column's own bind processing, once). A multi-row
    VALUES binds every cell as a parameter of its own, in pages, which costs more than the insert
    (benchmarks/reminders_plan.py)."""
    names = list(columns)
    fixed = [literal(value, table.c[name].type).label(name) for name, value in constants.items()]
    assert session.bind is not None, "a session bound to an engine"
    dialect = session.bind.dialect
    if dialect.name == "postgresql":
        arrays = (bindparam(name, values, type_=ARRAY(type_)) for name, (type_, values) in columns.items())
        source = func.unnest(*arrays).table_valued(*names).render_derived()
        query = select(*fixed, *(source.c[name] for name in names))
        return postgresql.insert(table).from_select([*constants, *names], query).on_conflict_do_nothing()
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    stored = [
        [value if processor is None else processor(value) for processor, value in zip(processors, values, strict=True)]
        for values in zip(*(values for _, values in columns.values()), strict=True)
    ]
    rows = func.json_each(bindparam("rows", json.dumps(stored), type_=Text())).table_valued("value")
    cells = [
        type_coerce(func.json_extract(rows.c.value, f"$[{n}]"), table.c[name].type) for n, name in enumerate(names)
    ]
    query = select(*fixed, *cells).where(true())  # SQLite reads `… FROM f() ON CONFLICT` as a join without it
    return sqlite.insert(table).from_select([*constants, *names], query).on_conflict_do_nothing()


async def _insert_reminders(
    session: AsyncSession, plan: ReminderPlan, items: Sequence[PlannedReminder], now: datetime
) -> Any:
    """Insert one reminder row per item (none for what another producer wrote); returns the rows written."""
    table: Table = Reminder.__table__
    connection = await session.connection()  # Core on the session's transaction: no ORM work per row
    constants = {"organisation_id": plan.organisation_id, "cohort": plan.today, "created_at": now}
    columns: Columns = {
        "customer_id": (Integer(), [item.customer_id for item in items]),
        "step_offset": (Integer(), [item.step.offset_days for item in items]),
        "tone": (String(), [str(item.step.tone) for item in items]),
        "fee": (Numeric(), [item.step.fee for item in items]),
        "state": (String(), [str(item.state) for item in items]),
        "note": (Text(), [item.note for item in items]),
    }
    statement = _bulk_insert(session, table, constants, columns)
    returning = (table.c.id, table.c.customer_id, table.c.step_offset, table.c.state)
    return (await connection.execute(statement.returning(*returning))).all()


async def _insert_links(session: AsyncSession, links: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
    """Insert (reminder, invoice, step) links, sorted; returns the (reminder, invoice) pairs written."""
    table: Table = ReminderInvoice.__table__
    connection = await session.connection()
    columns: Columns = {
        "reminder_id": (Integer(), [link[0] for link in links]),
        "invoice_id": (Integer(), [link[1] for link in links]),
        "step_offset": (Integer(), [link[2] for link in links]),
    }
    statement = _bulk_insert(session, table, {}, columns)
    result = await connection.execute(statement.returning(table.c.reminder_id, table.c.invoice_id))
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
        return await produce_in(
            unit.session, organisation_id=organisation_id, moment=moment, max_lateness_days=max_lateness_days
        )


async def produce_in(
    session: AsyncSession, *, organisation_id: int, moment: datetime, max_lateness_days: int
) -> Produced:
    """Plan at `moment` and write what is due in the caller's transaction (`produce_due`, and the
    reminders loop's `catch_up.produce_announced`, which owes its notice in the same one)."""
    plan = await plan_reminders(
        session, organisation_id=organisation_id, moment=moment, max_lateness_days=max_lateness_days
    )
    return Produced(plan, await write_plan(session, plan, now=utcnow()))


async def queued_reminders(session: AsyncSession, *, organisation_id: int, limit: int = 100) -> list[Reminder]:
    """Queued reminder rows, oldest first (dispatching claims its own: services/reminders/dispatch.py)."""
    query = (
        select(Reminder)
        .where(Reminder.organisation_id == organisation_id, Reminder.state == ReminderState.QUEUED.value)
        .order_by(Reminder.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
