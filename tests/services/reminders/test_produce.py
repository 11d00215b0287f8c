"""Producing reminders on the real database: once per invoice and step, catch-up after an outage,
lateness skips recorded, and two producers at once on PostgreSQL splitting the work."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.engine import create_engine, session_factory
from services.db.models import Organisation
from services.reminders.produce import Produced, produce_due, queued_reminders
from services.unit_of_work import units_over
from tests import factories
from tests.services.reminders.ledger import pay, sent_invoice, stored_reminders

MOMENT = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
TODAY = MOMENT.date()


def due(days_overdue: int) -> date:
    return TODAY - timedelta(days=days_overdue)


def produced_words(produced: Produced) -> list[tuple[str, int, str, str, list[str]]]:
    return sorted(
        (item.customer_name, item.step.offset_days, item.state.value, item.note, [i.number for i in item.invoices])
        for item in produced.produced
    )


async def test_producing_twice_at_one_moment_writes_each_reminder_once(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", due(0))
    await sent_invoice(session, org.id, acme, "INV-2", due(0))
    units = units_over(sessions)
    first = await produce_due(units, organisation_id=org.id, moment=MOMENT)
    again = await produce_due(units, organisation_id=org.id, moment=MOMENT + timedelta(hours=3))
    assert produced_words(first) == [("Acme Corp", 0, "queued", "", ["INV-1", "INV-2"])]
    assert again.produced == () and again.plan.reminders == ()
    assert [(row[1], row[2], len(row[3])) for row in await stored_reminders(session)] == [(0, "queued", 2)]
    queued = await queued_reminders(session, organisation_id=org.id)
    assert [(row.step_offset, row.tone.value, row.cohort) for row in queued] == [(0, "friendly", TODAY)]


async def test_after_a_three_day_outage_each_customer_and_step_is_caught_up_once_and_paid_invoices_get_nothing(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex")
    await sent_invoice(session, org.id, acme, "A-1", due(5))  # reaches +7 during the outage
    await sent_invoice(session, org.id, acme, "A-2", due(6))  # reaches +7 during the outage, a day earlier
    await sent_invoice(session, org.id, acme, "A-PAID", due(6))
    await sent_invoice(session, org.id, globex, "G-1", due(-1))  # reaches 0 during the outage (and -3 before it)
    units = units_over(sessions)
    before = await produce_due(units, organisation_id=org.id, moment=MOMENT)
    assert produced_words(before) == [
        ("Acme Corp", 0, "queued", "catch-up: the step was reached 6 days ago", ["A-2", "A-PAID", "A-1"]),
        ("Globex", -3, "queued", "catch-up: the step was reached 2 days ago", ["G-1"]),
    ]
    await pay(session, org.id, "A-PAID")  # paid while the worker was down
    after = await produce_due(units, organisation_id=org.id, moment=MOMENT + timedelta(days=3))
    assert produced_words(after) == [
        ("Acme Corp", 7, "queued", "catch-up: the step was reached 2 days ago", ["A-2", "A-1"]),
        ("Globex", 0, "queued", "catch-up: the step was reached 2 days ago", ["G-1"]),
    ]
    assert (await produce_due(units, organisation_id=org.id, moment=MOMENT + timedelta(days=3, hours=1))).produced == ()


async def test_a_step_missed_by_too_much_is_stored_as_skipped_with_its_note_and_never_produced_again(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", due(45))
    units = units_over(sessions)
    produced = await produce_due(units, organisation_id=org.id, moment=MOMENT)
    assert produced.skipped == 1 and produced.queued == 0
    rows = await stored_reminders(session)
    assert [(row[1], row[2]) for row in rows] == [(30, "skipped")]
    assert await queued_reminders(session, organisation_id=org.id) == []
    later = await produce_due(units, organisation_id=org.id, moment=MOMENT + timedelta(days=1))
    assert later.produced == ()


async def test_a_smaller_lateness_setting_skips_what_the_default_would_catch_up(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", due(10))  # +7 reached 3 days ago
    produced = await produce_due(units_over(sessions), organisation_id=org.id, moment=MOMENT, max_lateness_days=2)
    assert produced_words(produced) == [
        (
            "Acme Corp",
            7,
            "skipped",
            "skipped: the step was missed by 3 days, more than the 2 allowed; not sent late",
            ["INV-1"],
        )
    ]


ROUNDS = 20


async def test_two_producers_at_once_on_postgresql_produce_each_invoice_and_step_once(
    database_url: str, session: AsyncSession, org: Organisation
):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs two real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    owners = [await factories.customer(session, org.id, ref=f"C{n}", name=f"Customer {n}") for n in range(12)]
    for n, owner in enumerate(owners):
        for k in range(3):
            await sent_invoice(session, org.id, owner, f"INV-{n}-{k}", TODAY + timedelta(days=3 - n - 2 * k))
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        workers = [units_over(session_factory(engine)) for engine in engines]
        results: list[Produced] = []
        for day in range(ROUNDS):
            moment = MOMENT + timedelta(days=day)
            results += await asyncio.wait_for(
                asyncio.gather(*(produce_due(units, organisation_id=org.id, moment=moment) for units in workers)),
                timeout=30,
            )
    finally:
        for engine in engines:
            await engine.dispose()
    produced = Counter(
        (invoice.invoice_id, item.step.offset_days)
        for result in results
        for item in result.produced
        for invoice in item.invoices
    )
    assert produced and max(produced.values()) == 1  # no invoice and step produced by both producers
    rows = await stored_reminders(session)
    stored = Counter((invoice_id, row[1]) for row in rows for invoice_id in row[3])
    assert stored == produced
    assert all(row[3] for row in rows)  # no reminder row left without an invoice
    assert len(rows) == sum(len(result.produced) for result in results)
