"""The planner on the real database: which invoices are due for which step, and every stop rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import (
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Organisation,
    OrganisationSettingsRow,
    ReminderState,
    ReminderTone,
)
from services.reminders.plan import ReminderPlan, plan_reminders
from services.reminders.stops import (
    lift_dispute,
    mark_disputed,
    pause_customer,
    promise_to_pay,
    set_invoice_reminders,
)
from services.unit_of_work import units_over
from tests import factories
from tests.services.reminders.ledger import manual_invoice, pay, sent_invoice

TODAY = date(2026, 12, 10)
MOMENT = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def summary(plan: ReminderPlan) -> list[tuple[str, int, str, list[str]]]:
    """(customer, step, state, invoice numbers) as `invoicebot reminders plan` lists them."""
    return sorted(
        (item.customer_name, item.step.offset_days, item.state.value, [invoice.number for invoice in item.invoices])
        for item in plan.reminders
    )


async def plan_at(session: AsyncSession, org: Organisation, moment: datetime = MOMENT) -> ReminderPlan:
    organisation_id = org.id
    session.expire_all()  # read what other units of work committed
    return await plan_reminders(session, organisation_id=organisation_id, moment=moment)


async def test_an_invoice_is_at_the_latest_step_it_reached_with_that_steps_tone(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(9))  # +7 reached, +14 not yet
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(3))  # 0 reached
    await sent_invoice(session, org.id, acme, "INV-3", TODAY + timedelta(days=3))  # -3 reached today
    await sent_invoice(session, org.id, acme, "INV-4", TODAY + timedelta(days=4))  # nothing reached yet
    plan = await plan_at(session, org)
    assert summary(plan) == [
        ("Acme Corp", -3, "queued", ["INV-3"]),
        ("Acme Corp", 0, "queued", ["INV-2"]),
        ("Acme Corp", 7, "queued", ["INV-1"]),
    ]
    by_step = {item.step.offset_days: item for item in plan.reminders}
    assert by_step[7].step.tone == ReminderTone.NEUTRAL and by_step[-3].step.tone == ReminderTone.FRIENDLY
    assert by_step[7].invoices[0].days_overdue == 9 and by_step[-3].invoices[0].days_overdue == -3
    assert by_step[0].note == "catch-up: the step was reached 3 days ago"


async def test_one_reminder_per_customer_and_step_lists_all_its_invoices_at_that_step(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex")
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(15))
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(20))
    await sent_invoice(session, org.id, globex, "INV-3", days_ago(14))
    assert summary(await plan_at(session, org)) == [
        ("Acme Corp", 14, "queued", ["INV-2", "INV-1"]),
        ("Globex", 14, "queued", ["INV-3"]),
    ]


async def test_draft_unsent_void_and_paid_invoices_get_no_reminder_and_part_paid_ones_show_what_is_owed(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="DRAFT", due=days_ago(8), status=InvoiceStatus.DRAFT)
    await factories.invoice(session, org.id, acme, number="UNSENT", due=days_ago(8), status=InvoiceStatus.VALIDATED)
    await factories.invoice(session, org.id, acme, number="VOID", due=days_ago(8), status=InvoiceStatus.VOID)
    await sent_invoice(session, org.id, acme, "PAID", days_ago(8))
    await sent_invoice(session, org.id, acme, "PART", days_ago(8))
    await pay(session, org.id, "PAID")
    await pay(session, org.id, "PART", "50.00")
    plan = await plan_at(session, org)
    assert summary(plan) == [("Acme Corp", 7, "queued", ["PART"])]
    assert str(plan.reminders[0].invoices[0].outstanding) == "70.00"  # 120.00 with tax, 50.00 paid


async def test_a_disputed_invoice_gets_no_reminder_until_the_dispute_is_lifted(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(8))
    units = units_over(sessions)
    await mark_disputed(units, organisation_id=org.id, number="INV-1", actor="U_BOB", reason="Goods never arrived")
    assert summary(await plan_at(session, org)) == []
    await lift_dispute(units, organisation_id=org.id, number="INV-1", actor="U_BOB")
    assert summary(await plan_at(session, org)) == [("Acme Corp", 7, "queued", ["INV-1"])]


async def test_a_promise_to_pay_holds_reminders_back_up_to_its_date_inclusive(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(8))
    until = TODAY + timedelta(days=2)
    await promise_to_pay(
        units_over(sessions), organisation_id=org.id, number="INV-1", actor="U_BOB", until=until, today=TODAY
    )
    assert summary(await plan_at(session, org, MOMENT + timedelta(days=2))) == []
    assert summary(await plan_at(session, org, MOMENT + timedelta(days=3))) == [("Acme Corp", 7, "queued", ["INV-1"])]


async def test_a_paused_customer_gets_nothing_and_resumes_by_itself_the_day_after_the_pause(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex")
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(8))
    await sent_invoice(session, org.id, globex, "INV-2", days_ago(8))
    await pause_customer(
        units_over(sessions), organisation_id=org.id, customer_ref="ACME", actor="U_BOB", until=TODAY, today=TODAY
    )
    assert summary(await plan_at(session, org)) == [("Globex", 7, "queued", ["INV-2"])]
    tomorrow = summary(await plan_at(session, org, MOMENT + timedelta(days=1)))
    assert ("Acme Corp", 7, "queued", ["INV-1"]) in tomorrow


async def test_an_invoice_sent_manually_gets_reminders_only_when_a_person_turns_them_on(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await manual_invoice(session, org.id, acme, "INV-1", days_ago(8))
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(8))
    assert summary(await plan_at(session, org)) == [("Acme Corp", 7, "queued", ["INV-2"])]
    units = units_over(sessions)
    await set_invoice_reminders(units, organisation_id=org.id, number="INV-1", actor="U_BOB", on=True)
    await set_invoice_reminders(units, organisation_id=org.id, number="INV-2", actor="U_BOB", on=False)
    assert summary(await plan_at(session, org)) == [("Acme Corp", 7, "queued", ["INV-1"])]


async def test_a_step_missed_by_more_than_the_allowed_lateness_is_planned_as_skipped_with_a_note(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(45))  # +30 reached 15 days ago
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(37))  # +30 reached 7 days ago: still in time
    plan = await plan_at(session, org)
    assert summary(plan) == [("Acme Corp", 30, "queued", ["INV-2"]), ("Acme Corp", 30, "skipped", ["INV-1"])]
    skipped = next(item for item in plan.reminders if item.state == ReminderState.SKIPPED)
    assert skipped.note == "skipped: the step was missed by 15 days, more than the 7 allowed; not sent late"


async def test_the_day_is_the_organisations_local_date(session: AsyncSession, org: Organisation):
    session.add(OrganisationSettingsRow(organisation_id=org.id, time_zone="Pacific/Auckland"))
    await session.commit()
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", TODAY + timedelta(days=1))  # due tomorrow (UTC)
    late_evening_utc = datetime(2026, 12, 10, 20, 0, tzinfo=UTC)  # already the 11th in Auckland
    plan = await plan_at(session, org, late_evening_utc)
    assert plan.today == date(2026, 12, 11)
    assert summary(plan) == [("Acme Corp", 0, "queued", ["INV-1"])]


async def test_a_credit_note_is_never_reminded_and_reduces_what_its_invoice_is_reminded_for(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(9))  # 120.00 with VAT
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(9))
    await sent_invoice(session, org.id, acme, "CN-1", days_ago(9), amount="50.00")  # credits 60.00 of INV-1
    await sent_invoice(session, org.id, acme, "CN-2", days_ago(9))  # credits all of INV-2
    ids = {number: invoice_id for number, invoice_id in await session.execute(select(Invoice.number, Invoice.id))}
    for note, corrected in (("CN-1", "INV-1"), ("CN-2", "INV-2")):
        await session.execute(
            update(Invoice)
            .where(Invoice.id == ids[note])
            .values(kind=DocumentKind.CREDIT_NOTE, corrects_invoice_id=ids[corrected])
        )
    await session.commit()

    plan = await plan_at(session, org)

    assert summary(plan) == [("Acme Corp", 7, "queued", ["INV-1"])]
    assert str(plan.reminders[0].invoices[0].outstanding) == "60.00"


async def test_an_invoice_paid_and_credited_in_part_is_reminded_for_the_rest_and_a_draft_credit_note_counts_for_nothing(
    session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await sent_invoice(session, org.id, acme, "INV-1", days_ago(9))  # 120.00 with VAT
    await sent_invoice(session, org.id, acme, "INV-2", days_ago(9))  # untouched: its whole total
    await sent_invoice(session, org.id, acme, "CN-1", days_ago(9), amount="25.00")  # credits 30.00 of INV-1
    await factories.invoice(session, org.id, acme, number="CN-D", due=days_ago(9), status=InvoiceStatus.DRAFT)
    await pay(session, org.id, "INV-1", "40.00")
    ids = {number: invoice_id for number, invoice_id in await session.execute(select(Invoice.number, Invoice.id))}
    for note in ("CN-1", "CN-D"):
        await session.execute(
            update(Invoice)
            .where(Invoice.id == ids[note])
            .values(kind=DocumentKind.CREDIT_NOTE, corrects_invoice_id=ids["INV-1"])
        )
    await session.commit()

    plan = await plan_at(session, org)

    assert summary(plan) == [("Acme Corp", 7, "queued", ["INV-1", "INV-2"])]
    owed = {invoice.number: str(invoice.outstanding) for invoice in plan.reminders[0].invoices}
    assert owed == {"INV-1": "50.00", "INV-2": "120.00"}  # 120.00 − 40.00 paid − 30.00 credited
