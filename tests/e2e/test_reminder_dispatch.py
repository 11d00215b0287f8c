"""Produced reminders become reminder emails: one delivery per reminder, in the customer's language, inside the
send window, each once, through the rules of an invoice's send (approval, suppression); the real services, the
notifier and the fake Slack on 127.0.0.1, and two dispatchers at once on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.notifier import Notifier
from bot.reminders_loop import Reminders, dispatch_words
from bot.sandbox.slack_api import FakeSlackApi
from services.db.engine import create_engine, session_factory
from services.db.models import (
    Approval,
    Customer,
    Delivery,
    DeliveryKind,
    Invoice,
    Organisation,
    OrganisationSettingsRow,
    Reminder,
    ReminderState,
    Suppression,
)
from services.reminders.produce import produce_due
from services.reminders.stops import mark_disputed
from services.unit_of_work import units_over
from tests import factories
from tests.harness.reading import channel_messages, texts
from tests.harness.sending import SECRET
from tests.harness.slack import NOTIFYING, settings_with
from tests.services.reminders.ledger import sent_invoice

settings = settings_with(**NOTIFYING, INVOICEBOT_APPROVERS="U0BOB")

WEDNESDAY = datetime(
    2026, 11, 25, 10, 0, tzinfo=UTC
)  # in the past (the notifier posts what is due), inside Mon-Fri 09:00-17:00 (UTC)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DUE = date(2026, 11, 18)  # a week before Wednesday: the +7 step


def reminders_of(runtime: Runtime) -> Reminders:
    return Reminders(runtime.sessions, runtime.organisations, verp_secret=SECRET)


async def emails(session: AsyncSession) -> list[tuple[str, str, str, str, str]]:
    """(to, status, kind, requested by, first invoice) of every delivery, as the database holds them."""
    await session.commit()
    rows = await session.execute(
        select(Delivery.to, Delivery.status, Delivery.kind, Delivery.requested_by, Invoice.number)
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .order_by(Delivery.id)
    )
    return [(", ".join(to), str(status), str(kind), by, number) for to, status, kind, by, number in rows.all()]


async def seed(session: AsyncSession, org: Organisation) -> None:
    """Acme (German) owes two invoices a week late, Globex one; all sent by email."""
    acme = await factories.customer(session, org.id, language="de")
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex", emails=("ap@globex.example",))
    await sent_invoice(session, org.id, acme, "A-2", DUE, amount="50.00")
    await sent_invoice(session, org.id, acme, "A-1", DUE)  # same day: listed first by number
    await sent_invoice(session, org.id, globex, "G-1", DUE)


async def test_each_produced_reminder_becomes_one_email_in_the_customers_language_once(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    await runtime.organisation_id()
    await seed(session, org)
    reminders = reminders_of(runtime)

    first, second = await asyncio.gather(reminders.evaluate(WEDNESDAY), reminders.evaluate(WEDNESDAY))
    again = await reminders.evaluate(WEDNESDAY + timedelta(minutes=1))

    queued = [item for done in first + second for item in done.dispatched.queued]
    assert sorted((item.customer_name, item.numbers) for item in queued) == [
        ("Acme Corp", ("A-1", "A-2")),
        ("Globex", ("G-1",)),
    ]
    assert again[0].dispatched.queued == () and again[0].produced.produced == ()
    assert sorted(await emails(session)) == [
        ("ap@acme.example", "queued", "reminder", "reminders", "A-1"),
        ("ap@globex.example", "queued", "reminder", "reminders", "G-1"),
    ]
    acme = (
        await session.execute(
            select(Delivery).join(Invoice, Invoice.id == Delivery.invoice_id).where(Invoice.number == "A-1")
        )
    ).scalar_one()
    reminder = await session.get(Reminder, acme.reminder_id)
    assert reminder is not None and reminder.step_offset == 7 and reminder.state == ReminderState.SENT
    assert acme.language == "de" and "Zahlungserinnerung" in acme.subject, acme.subject
    assert "A-1" in acme.body_text and "A-2" in acme.body_text
    assert acme.idempotency_key == f"reminder:{reminder.id}" and acme.next_attempt_at is not None


async def test_an_invoice_reaching_the_step_after_the_days_email_went_out_gets_its_own_the_next_day(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    """The dispatched reminder turns `sent` and keeps the day's place: no second email for the step that day."""
    await runtime.organisation_id()
    await seed(session, org)
    reminders = reminders_of(runtime)
    await reminders.evaluate(WEDNESDAY)
    acme = await session.scalar(select(Customer).where(Customer.name == "Acme Corp"))
    assert acme is not None
    await sent_invoice(session, org.id, acme, "A-3", DUE)
    await session.commit()

    later = await reminders.evaluate(WEDNESDAY + timedelta(hours=1))
    next_day = await reminders.evaluate(WEDNESDAY + timedelta(days=1))

    assert later[0].dispatched.queued == () and later[0].produced.produced == ()
    assert [(item.customer_name, item.numbers) for item in next_day[0].dispatched.queued] == [("Acme Corp", ("A-3",))]
    states = await session.execute(
        select(Reminder.cohort, Reminder.state, Reminder.note).order_by(Reminder.cohort, Reminder.customer_id)
    )
    assert [(cohort, str(state), note) for cohort, state, note in states.all()] == [
        (WEDNESDAY.date(), "sent", ""),
        (WEDNESDAY.date(), "sent", ""),
        (WEDNESDAY.date() + timedelta(days=1), "sent", "catch-up: the step was reached 1 day ago"),
    ]
    assert [email[4] for email in await emails(session)] == ["A-1", "G-1", "A-3"]


async def test_an_invoice_disputed_after_producing_is_left_out_and_a_reminder_with_nothing_left_is_closed(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    """Produced on Saturday (window closed); A-1 and G-1 disputed over the weekend; Monday's email lists A-2 only."""
    await runtime.organisation_id()
    await seed(session, org)
    reminders = reminders_of(runtime)
    [closed] = await reminders.evaluate(SATURDAY)
    assert len(closed.produced.produced) == 2
    units = units_over(runtime.sessions)
    for number in ("A-1", "G-1"):
        await mark_disputed(units, organisation_id=org.id, number=number, actor="U0BOB", reason="Goods never arrived")

    [monday] = await reminders.evaluate(SATURDAY + timedelta(days=2))

    assert [(item.customer_name, item.numbers) for item in monday.dispatched.queued] == [("Acme Corp", ("A-2",))]
    assert [item.customer_name for item in monday.dispatched.settled] == ["Globex"]
    assert [(email[0], email[4]) for email in await emails(session)] == [("ap@acme.example", "A-2")]
    acme = await session.scalar(select(Delivery).where(Delivery.kind == DeliveryKind.REMINDER))
    assert acme is not None and "A-2" in acme.body_text and "A-1" not in acme.body_text
    states = await session.execute(
        select(Customer.name, Reminder.state, Reminder.note).join(Customer).order_by(Customer.name)
    )
    assert [(name, str(state), note) for name, state, note in states.all()] == [
        ("Acme Corp", "sent", "catch-up: the step was reached 3 days ago"),  # due Wednesday, produced Saturday
        (
            "Globex",
            "skipped",
            "nothing to remind of any more: G-1 is held back from reminders (disputed, a promise to pay, its "
            "customer paused or its reminders turned off).",
        ),
    ]


async def test_a_reminder_that_needs_approval_asks_an_approver_in_slack(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await seed(session, org)
    await session.execute(update(OrganisationSettingsRow).values(approval_policy="always"))
    await session.execute(update(Organisation).values(settings_version=Organisation.settings_version + 1))
    await session.commit()

    [done] = await reminders_of(runtime).evaluate(WEDNESDAY)

    assert done.dispatched.queued == () and len(done.dispatched.awaiting_approval) == 2
    assert {row[1] for row in await emails(session)} == {"awaiting_approval"}
    approvals = (await session.execute(select(Approval))).scalars().all()
    assert sorted(approval.requested_by for approval in approvals) == ["reminders", "reminders"]
    await notifier.drain_once()
    posted = [line for message in channel_messages(fake_slack) for line in texts(message.blocks)]
    assert any("Reminders" in line for line in posted), posted


async def test_outside_the_send_window_nothing_is_queued_and_the_next_opening_is_named(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    await runtime.organisation_id()
    await seed(session, org)

    [closed] = await reminders_of(runtime).evaluate(SATURDAY)

    assert len(closed.produced.produced) == 2  # produced at any hour; sent only in the window
    assert not closed.dispatched.window_open
    assert closed.dispatched.next_opening == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert dispatch_words(closed.dispatched)[0].endswith(
        "outside the send window; it opens next at 2026-11-30T09:00:00+00:00"
    )
    assert await emails(session) == []


async def test_a_suppressed_or_missing_address_gets_no_email_and_one_notice(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await seed(session, org)
    await session.execute(update(Customer).where(Customer.ref == "GLOBEX").values(emails=[]))
    session.add(Suppression(organisation_id=org.id, email="ap@acme.example", reason="hard_bounce"))
    await session.commit()
    reminders = reminders_of(runtime)

    [done] = await reminders.evaluate(WEDNESDAY)
    for minute in range(1, 4):
        [later] = await reminders.evaluate(WEDNESDAY + timedelta(minutes=minute))
        assert later.dispatched.not_sent == () and later.dispatched.queued == ()

    reasons = {item.customer_name: item.reason for item in done.dispatched.not_sent}
    assert reasons["Globex"] == "the customer has no email address to send it to"
    assert "ap@acme.example" in reasons["Acme Corp"]
    assert await emails(session) == []
    states = (await session.execute(select(Reminder.state, Reminder.note))).all()
    assert sorted(str(state) for state, _ in states) == ["skipped", "skipped"]
    assert all(note.startswith("not sent: ") for _, note in states)
    await notifier.drain_once()
    notes = [texts(message.blocks) for message in channel_messages(fake_slack) if "Reminders" in message.text]
    assert len(notes) == 1, notes
    assert notes[0][0].startswith("*✋ Reminders could not send 2 reminders — a person must:*")


async def test_a_catch_up_after_an_outage_is_announced_once(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "A-1", DUE - timedelta(days=3))  # +7 reached three days ago
    await sent_invoice(session, org.id, acme, "A-OLD", DUE - timedelta(days=60))  # +30 missed by far
    reminders = reminders_of(runtime)

    await reminders.evaluate(WEDNESDAY)
    await reminders.evaluate(WEDNESDAY + timedelta(minutes=1))

    await notifier.drain_once()
    notes = [texts(message.blocks) for message in channel_messages(fake_slack) if "caught up" in message.text]
    assert len(notes) == 1, notes
    assert (
        notes[0][0]
        == "*🔁 Reminders caught up 1 reminder reached while nothing ran*\n• Acme Corp — step +7 days: *A-1*"
    )
    assert notes[0][1].startswith("*⏭️ 1 reminder skipped: missed by too much to be sent late*\n• Acme Corp — step +30")


async def test_two_dispatchers_at_once_on_postgresql_write_one_email_per_reminder(
    database_url: str, runtime: Runtime, session: AsyncSession, org: Organisation
):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks and concurrent transactions: PostgreSQL only")
    await runtime.organisation_id()
    for index in range(12):
        customer = await factories.customer(
            session, org.id, ref=f"C{index}", name=f"Customer {index}", emails=(f"ap@c{index}.example",)
        )
        await sent_invoice(session, org.id, customer, f"INV-{index}", DUE)
    produced = await produce_due(units_over(runtime.sessions), organisation_id=org.id, moment=WEDNESDAY)
    assert produced.queued == 12
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        workers = [Reminders(session_factory(engine), runtime.organisations, verp_secret=SECRET) for engine in engines]

        async def rounds(worker: Reminders) -> int:
            done = 0
            for minute in range(20):
                [one] = await worker.evaluate(WEDNESDAY + timedelta(seconds=minute), [org.id])
                done += len(one.dispatched.queued)
            return done

        counts = await asyncio.gather(*(rounds(worker) for worker in workers))
    finally:
        for engine in engines:
            await engine.dispose()

    assert sum(counts) == 12
    await session.commit()
    per_reminder = (
        await session.execute(select(Delivery.reminder_id, func.count()).group_by(Delivery.reminder_id))
    ).all()
    assert len(per_reminder) == 12 and all(count == 1 for _, count in per_reminder)


async def test_a_reminder_that_cannot_go_joins_the_skipped_one_of_its_step_and_day(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    await runtime.organisation_id()
    acme = await factories.customer(session, org.id, emails=())
    await sent_invoice(session, org.id, acme, "A-LATE", DUE - timedelta(days=24))  # +30 reached yesterday: caught up
    await sent_invoice(session, org.id, acme, "A-OLD", DUE - timedelta(days=60))  # +30 missed by far: skipped

    [done] = await reminders_of(runtime).evaluate(WEDNESDAY)
    [later] = await reminders_of(runtime).evaluate(WEDNESDAY + timedelta(minutes=1))

    assert [item.numbers for item in done.dispatched.not_sent] == [("A-LATE",)]
    assert later.dispatched.not_sent == () and later.produced.produced == ()
    await session.commit()
    [(state, note)] = (await session.execute(select(Reminder.state, Reminder.note))).all()
    assert str(state) == "skipped" and note.endswith("; not sent: the customer has no email address to send it to")
    assert await emails(session) == []
