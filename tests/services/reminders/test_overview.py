"""The reminder overview agrees with the planner: an invoice it says goes out today is exactly one the plan
lists, at the same step; every other invoice names the stop that holds it or the day its next step comes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation, ReminderTone
from services.reminders.ladder import Step, set_ladder
from services.reminders.overview import Stop, customer_overview, find_customers
from services.reminders.plan import plan_reminders
from services.reminders.stops import mark_disputed, pause_customer, promise_to_pay, set_invoice_reminders
from services.unit_of_work import units_over
from tests import factories
from tests.services.reminders.ledger import manual_invoice, pay, sent_invoice

TODAY = date(2026, 12, 10)
MOMENT = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


async def test_what_the_overview_says_goes_out_today_is_what_the_planner_plans(
    session: AsyncSession, sessions, org: Organisation
):
    units = units_over(sessions)
    org_id = org.id
    acme = await factories.customer(session, org_id)
    await sent_invoice(session, org_id, acme, "DUE-7", days_ago(9))  # +7 reached today-ish: planned
    await sent_invoice(session, org_id, acme, "SOON", TODAY + timedelta(days=10))  # -3 on the 17th
    await sent_invoice(session, org_id, acme, "DISPUTED", days_ago(9))
    await sent_invoice(session, org_id, acme, "PROMISED", days_ago(9))
    await sent_invoice(session, org_id, acme, "OFF", days_ago(9))
    await sent_invoice(session, org_id, acme, "HALF", days_ago(1))  # partly paid: still reminded
    await sent_invoice(session, org_id, acme, "PAID", days_ago(9))
    await manual_invoice(session, org_id, acme, "MANUAL", days_ago(9))
    await pay(session, org_id, "HALF", "40.00")
    await pay(session, org_id, "PAID")
    await mark_disputed(units, organisation_id=org_id, number="DISPUTED", actor="U1", reason="wrong")
    await promise_to_pay(units, organisation_id=org_id, number="PROMISED", actor="U1", until=TODAY, today=TODAY)
    await set_invoice_reminders(units, organisation_id=org_id, number="OFF", actor="U1", on=False)

    session.expire_all()
    plan = await plan_reminders(session, organisation_id=org_id, moment=MOMENT)
    planned = {(invoice.number, item.step.offset_days) for item in plan.reminders for invoice in item.invoices}
    [customer] = await find_customers(session, organisation_id=org_id, text="ACME")
    view = await customer_overview(session, organisation_id=org_id, customer=customer, today=TODAY)

    today = {
        (item.number, item.next.step.offset_days) for item in view.invoices if item.next.on == TODAY and item.next.step
    }
    assert today == planned == {("DUE-7", 7), ("HALF", 0)}
    nexts = {item.number: (item.next.stop, item.next.on, item.next.resumes_on) for item in view.invoices}
    assert nexts == {
        "DUE-7": (None, TODAY, None),
        "SOON": (None, date(2026, 12, 17), None),
        "DISPUTED": (Stop.DISPUTED, None, None),
        "PROMISED": (Stop.PROMISED, None, TODAY + timedelta(days=1)),
        "OFF": (Stop.SWITCHED_OFF, None, None),
        "HALF": (None, TODAY, None),
        "MANUAL": (Stop.SENT_MANUALLY, None, None),
    }  # PAID is not open: not listed
    assert [item.number for item in view.invoices][:1] == ["DUE-7"]


async def test_a_paused_customer_with_its_own_ladder_says_so_and_when_it_resumes(
    session: AsyncSession, sessions, org: Organisation
):
    units = units_over(sessions)
    org_id = org.id
    acme = await factories.customer(session, org_id)
    await sent_invoice(session, org_id, acme, "INV-1", days_ago(2))
    await session.commit()
    own = [Step(1, ReminderTone.FRIENDLY), Step(10, ReminderTone.FIRM)]
    await set_ladder(units, organisation_id=org_id, actor="U1", steps=own, customer_ref="ACME")

    session.expire_all()
    [acme] = await find_customers(session, organisation_id=org_id, text="acme")
    before = await customer_overview(session, organisation_id=org_id, customer=acme, today=TODAY)
    await pause_customer(units, organisation_id=org_id, customer_ref="ACME", actor="U1", until=TODAY, today=TODAY)
    session.expire_all()
    [acme] = await find_customers(session, organisation_id=org_id, text="acme")
    paused = await customer_overview(session, organisation_id=org_id, customer=acme, today=TODAY)

    assert before.own_ladder and before.ladder == tuple(own)
    assert before.next is not None and before.next.step == own[0] and before.next.on == TODAY
    assert paused.paused_until == TODAY and paused.paused_by == "U1" and paused.next is None
    assert paused.invoices[0].next.stop == Stop.PAUSED
    assert paused.invoices[0].next.resumes_on == TODAY + timedelta(days=1)
