from datetime import date, timedelta

from sqlalchemy import func, select

from services.db.models import Customer, Invoice, InvoiceStatus, Organisation, SmtpStatus
from services.invoicing.seed import HARD_BOUNCE_ADDRESS, seed_demo
from services.sending.due import DueQuery, list_due_invoices
from services.sending.readiness import SendingState

TODAY = date(2026, 11, 23)


async def test_seed_has_invoices_in_every_state_due_today_overdue_and_later(session, org):
    summary = await seed_demo(session, organisation_id=org.id, today=TODAY)
    await session.commit()

    invoices = (await session.execute(select(Invoice))).scalars().all()
    assert summary.invoices_created == len(invoices) >= 25
    assert {i.status for i in invoices} == set(InvoiceStatus)
    assert {i.sent_via for i in invoices if i.status == InvoiceStatus.SENT} == {"email", "manual"}
    assert {i.currency for i in invoices} >= {"EUR", "GBP", "CHF"}
    unsent = [i for i in invoices if i.status in (InvoiceStatus.DRAFT, InvoiceStatus.VALIDATED)]
    assert any(i.due_date == TODAY for i in unsent)
    assert any(TODAY - timedelta(days=7) < i.due_date < TODAY for i in unsent)
    assert any(i.due_date <= TODAY - timedelta(days=14) for i in unsent)
    assert any(i.due_date > TODAY for i in unsent)
    assert all(i.paid_at for i in invoices if i.status == InvoiceStatus.PAID)
    assert all(i.voided_at for i in invoices if i.status == InvoiceStatus.VOID)


async def test_seed_customers_cover_six_languages_and_the_demo_addresses(session, org):
    await seed_demo(session, organisation_id=org.id, today=TODAY)
    await session.commit()
    customers = (await session.execute(select(Customer))).scalars().all()
    assert {c.language for c in customers} == {"en", "fr", "de", "nl", "es", "it"}
    assert any(not c.emails for c in customers)
    assert any(len(c.emails) == 2 and c.cc for c in customers)
    assert any(c.emails == [HARD_BOUNCE_ADDRESS] for c in customers)
    assert all(address.endswith(".example") for c in customers for address in [*c.emails, *c.cc])


async def test_seeding_twice_adds_nothing(session, org):
    await seed_demo(session, organisation_id=org.id, today=TODAY)
    await session.commit()
    again = await seed_demo(session, organisation_id=org.id, today=TODAY + timedelta(days=3))
    await session.commit()
    assert again.invoices_created == 0
    assert again.invoices_skipped == (await session.execute(select(func.count()).select_from(Invoice))).scalar_one()
    assert (await session.execute(select(func.count()).select_from(Customer))).scalar_one() == again.customers


async def test_seeded_due_listing_explains_drafts_and_missing_emails(session, org):
    await seed_demo(session, organisation_id=org.id, today=TODAY)
    await session.commit()
    page = await list_due_invoices(
        session,
        DueQuery(organisation_id=org.id, today=TODAY, sending=SendingState(configured=True, verified=True)),
        page_size=50,
    )
    reasons = {problem.reason.value for item in page.items for problem in item.problems}
    assert reasons == {"draft", "no_email"}
    assert any(item.ready for item in page.items)


async def test_the_smtp_flag_marks_the_organisation_verified(session):
    organisation = Organisation(name="Fresh Ltd")
    session.add(organisation)
    await session.commit()
    await seed_demo(session, organisation_id=organisation.id, today=TODAY, smtp_verified=True)
    await session.commit()
    assert organisation.smtp_status == SmtpStatus.VERIFIED
