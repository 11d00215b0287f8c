"""Reminder planner benchmark (issue 14): 100,000 open invoices over 10,000 customers with ladders.

Targets: evaluating and producing one day's reminders ≤ 5 s, and ≤ 1.5× a hand-written SQL query
that finds the same (invoice, step) set in the same run, on SQLite and on PostgreSQL. The data:
one customer in twenty has its own ladder (one with a fee line), one in fifty is paused, some
invoices are disputed, promised, marked as sent manually (a few turned back on), part paid, paid,
void or still draft; due dates spread over 70 days. The day before is produced first (untimed
history, printed), so the timed day is a steady day: the steps reached today. Each timed round
plans and writes in a transaction that is rolled back (the same code as `produce_due`), interleaved
with the hand-written query; then the day is produced for real and its rows checked against the
hand-written set. Exit status 1 when a target is missed or the sets differ.

    .venv/bin/python -m benchmarks.reminders_plan [--backend sqlite|postgres|both] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import (
    Customer,
    CustomerReminderState,
    Invoice,
    InvoiceReminderState,
    Organisation,
    Payment,
    Reminder,
    ReminderInvoice,
    ReminderStep,
)
from services.reminders.plan import plan_reminders
from services.reminders.produce import produce_due, write_plan
from services.unit_of_work import units_over

TODAY = date(2026, 12, 10)
MOMENT = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
CUSTOMERS, INVOICES = 10_000, 100_000
SECONDS_TARGET, RATIO_TARGET = 5.0, 1.5
STAMP = datetime(2026, 1, 1, tzinfo=UTC)

# The same set, written by hand: each invoice's ladder (its customer's own steps, else the
# organisation's, which the benchmark leaves at the default), the latest step reached, the stop rules.
HAND = """
WITH org_steps(offset_days) AS (VALUES (-3), (0), (7), (14), (30)),
ladder AS (
    SELECT s.customer_id, s.offset_days FROM reminder_steps AS s
    WHERE s.organisation_id = {org} AND s.customer_id IS NOT NULL
    UNION ALL
    SELECT c.id, o.offset_days FROM customers AS c CROSS JOIN org_steps AS o
    WHERE c.organisation_id = {org}
      AND NOT EXISTS (SELECT 1 FROM reminder_steps AS s WHERE s.customer_id = c.id)
),
at_step AS (
    SELECT i.id, max(l.offset_days) AS step
    FROM invoices AS i
    JOIN ladder AS l ON l.customer_id = i.customer_id AND l.offset_days <= {days_past}
    LEFT JOIN invoice_reminder_states AS f ON f.invoice_id = i.id
    LEFT JOIN customer_reminder_states AS p ON p.customer_id = i.customer_id
    WHERE i.organisation_id = {org} AND i.status = 'sent'
      AND (f.reminders_on = {true} OR (f.reminders_on IS NULL AND (i.sent_via IS NULL OR i.sent_via <> 'manual')))
      AND f.disputed_at IS NULL
      AND (f.promised_until IS NULL OR f.promised_until < {today})
      AND (p.paused_until IS NULL OR p.paused_until < {today})
    GROUP BY i.id
)
SELECT a.id, a.step FROM at_step AS a
WHERE NOT EXISTS (SELECT 1 FROM reminder_invoices AS r WHERE r.invoice_id = a.id AND r.step_offset = a.step)
"""


def hand_sql(dialect: str, organisation_id: int) -> str:
    if dialect == "sqlite":
        today, true = f"'{TODAY.isoformat()}'", "1"
        days_past = f"CAST(julianday({today}) - julianday(i.due_date) AS INTEGER)"
    else:
        today, true = f"DATE '{TODAY.isoformat()}'", "true"
        days_past = f"({today} - i.due_date)"
    return HAND.format(org=organisation_id, days_past=days_past, today=today, true=true)


def _status(i: int) -> str:
    return "paid" if i % 20 == 7 else "void" if i % 50 == 9 else "draft" if i % 50 == 11 else "sent"


async def load(engine: AsyncEngine) -> int:
    """The organisation, customers, ladders, invoices and stop-rule state; returns the organisation id."""
    async with engine.begin() as conn:
        org = Organisation(name="Benchmark Ltd", sender_email="invoices@bench.example")
        org_id = (
            await conn.execute(
                insert(Organisation).returning(Organisation.id),
                [{"name": org.name, "sender_email": org.sender_email, "created_at": STAMP}],
            )
        ).scalar_one()
        await conn.execute(
            insert(Customer),
            [
                {"organisation_id": org_id, "ref": f"C{c:05d}", "name": f"Customer {c:05d}", "emails": [], "cc": []}
                for c in range(1, CUSTOMERS + 1)
            ],
        )
        overrides = [c for c in range(1, CUSTOMERS + 1) if c % 20 == 0]
        steps = [(-1, "friendly", None), (5, "neutral", None), (20, "firm", Decimal("25.00"))]
        await conn.execute(
            insert(ReminderStep),
            [
                {"organisation_id": org_id, "customer_id": c, "offset_days": o, "tone": t, "fee": f}
                for c in overrides
                for o, t, f in steps
            ],
        )
        await conn.execute(
            insert(CustomerReminderState),
            [
                {
                    "customer_id": c,
                    "organisation_id": org_id,
                    "paused_until": TODAY + timedelta(days=5),
                    "paused_by": "U",
                }
                for c in range(1, CUSTOMERS + 1)
                if c % 50 == 1
            ],
        )
        await conn.execute(insert(Invoice), [_invoice(org_id, i) for i in range(1, INVOICES + 1)])
        await conn.execute(
            insert(InvoiceReminderState),
            [
                {
                    "invoice_id": i, "organisation_id": org_id, "updated_by": "U",
                    "disputed_reason": "bench" if i % 97 == 0 else None,
                    "disputed_by": "U" if i % 97 == 0 else None,
                    "disputed_at": STAMP if i % 97 == 0 else None,
                    "promised_until": TODAY + timedelta(days=3) if i % 89 == 0 else None,
                    "reminders_on": True if i % 106 == 0 else None,
                }
                for i in range(1, INVOICES + 1)
                if i % 97 == 0 or i % 89 == 0 or i % 106 == 0
            ],
        )  # fmt: skip
        await conn.execute(
            insert(Payment),
            [
                {"organisation_id": org_id, "invoice_id": i, "amount": Decimal("10.00"), "paid_on": TODAY,
                 "reference": "", "source": "cli", "recorded_by": "U", "recorded_at": STAMP}
                for i in range(1, INVOICES + 1)
                if i % 41 == 0 and _status(i) == "sent"
            ],
        )  # fmt: skip
    return int(org_id)


def _invoice(org_id: int, i: int) -> dict[str, Any]:
    due = TODAY - timedelta(days=(i * 7919) % 70 - 10)  # from 10 days ahead to 59 days past due
    return {
        "organisation_id": org_id, "number": f"INV-{i:06d}", "customer_id": 1 + i % CUSTOMERS,
        "issue_date": due - timedelta(days=30), "due_date": due, "currency": "EUR", "status": _status(i),
        "subtotal": Decimal("100.00"), "tax_total": Decimal("20.00"), "total": Decimal("120.00"),
        "public_token": f"bench-{i}", "autosend": False, "created_at": STAMP, "updated_at": STAMP,
        "sent_via": "manual" if i % 53 == 0 else "email",
    }  # fmt: skip


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def as_live(engine: AsyncEngine) -> None:
    """PostgreSQL: statistics and visibility as autovacuum keeps them in a live database, where
    fresh tables have none; both the planner and the hand-written query run on the same state."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("VACUUM ANALYZE")


async def run_backend(url: str, rounds: int) -> bool:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    loaded, org_id = await timed(lambda: load(engine))
    await as_live(engine)
    print(f"  data: {CUSTOMERS} customers, {INVOICES} invoices loaded in {loaded:.1f} s")
    history, first = await timed(
        lambda: produce_due(units_over(sessions), organisation_id=org_id, moment=MOMENT - timedelta(days=1))
    )
    print(
        f"  history (the day before, all caught up at once): {first.queued} queued, {first.skipped} skipped"
        f" in {history:.2f} s"
    )
    await as_live(engine)  # the timed day comes a day after the history: autovacuum has seen its rows

    async def planned_and_written() -> set[tuple[int, int]]:
        async with sessions() as session:
            plan = await plan_reminders(session, organisation_id=org_id, moment=MOMENT)
            await write_plan(session, plan, now=MOMENT)
            await session.rollback()
        return {(invoice.invoice_id, item.step.offset_days) for item in plan.reminders for invoice in item.invoices}

    async def hand() -> set[tuple[int, int]]:
        async with engine.connect() as conn:
            rows: Sequence[tuple[Any, ...]] = (await conn.exec_driver_sql(hand_sql(engine.dialect.name, org_id))).all()
        return {(int(row[0]), int(row[1])) for row in rows}

    ours, theirs = [], []
    found: set[tuple[int, int]] = set()
    expected: set[tuple[int, int]] = set()
    for _ in range(rounds):
        seconds, found = await timed(planned_and_written)
        ours.append(seconds)
        seconds, expected = await timed(hand)
        theirs.append(seconds)
    produced_seconds, produced = await timed(
        lambda: produce_due(units_over(sessions), organisation_id=org_id, moment=MOMENT)
    )
    async with sessions() as session:
        query = (
            select(ReminderInvoice.invoice_id, ReminderInvoice.step_offset)
            .join(Reminder, Reminder.id == ReminderInvoice.reminder_id)
            .where(Reminder.cohort == TODAY)
        )
        stored = {(int(a), int(b)) for a, b in (await session.execute(query)).all()}
    await engine.dispose()
    median, hand_median = statistics.median(ours), statistics.median(theirs)
    ratio = median / hand_median
    same = found == expected == stored
    print(f"  the day: {len(found)} invoices at a step, {produced.queued} reminders queued, {produced.skipped} skipped")
    print(
        f"  plan + write (rolled back), median of {rounds}: {median * 1000:.0f} ms;"
        f" produce_due for real: {produced_seconds * 1000:.0f} ms"
    )
    print(f"  hand-written SQL, median of {rounds}: {hand_median * 1000:.0f} ms")
    print(f"  ratio {ratio:.2f}× (target ≤ {RATIO_TARGET}×); same set as the hand-written query: {same}")
    return same and median <= SECONDS_TARGET and produced_seconds <= SECONDS_TARGET and ratio <= RATIO_TARGET


async def main_async(args: argparse.Namespace) -> bool:
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            print("SQLite:")
            ok = await run_backend(f"sqlite:///{Path(folder) / 'reminders.db'}", args.rounds) and ok
    if args.backend in ("postgres", "both"):
        print(f"PostgreSQL ({args.postgres_url}, its schema rebuilt):")
        engine = create_engine(args.postgres_url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
        await engine.dispose()
        ok = await run_backend(args.postgres_url, args.rounds) and ok
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/h_ladder")
    parser.add_argument("--rounds", type=int, default=5)
    sys.exit(0 if asyncio.run(main_async(parser.parse_args())) else 1)


if __name__ == "__main__":
    main()
