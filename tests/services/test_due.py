from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import InvoiceStatus, Organisation, Suppression
from services.sending.due import DueQuery, list_due_invoices
from services.sending.readiness import NotReadyReason, SendingState
from tests import factories

TODAY = date(2026, 11, 23)
VERIFIED = SendingState(configured=True, verified=True)


async def _reasons(session: AsyncSession, org: Organisation, sending: SendingState = VERIFIED) -> dict[str, set[str]]:
    page = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=sending), page_size=50
    )
    return {item.number: {p.reason for p in item.problems} for item in page.items}


async def test_lists_only_unsent_invoices_due_today_or_earlier_oldest_first(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="LATER", due=date(2026, 11, 24))
    await factories.invoice(session, org.id, acme, number="TODAY", due=TODAY)
    await factories.invoice(session, org.id, acme, number="OLD", due=date(2026, 9, 1))
    await factories.invoice(session, org.id, acme, number="SENT", status=InvoiceStatus.SENT)
    await factories.invoice(session, org.id, acme, number="VOID", status=InvoiceStatus.VOID)
    await factories.invoice(session, org.id, acme, number="PAID", status=InvoiceStatus.PAID)
    await factories.invoice(session, org.id, acme, number="DRAFT", status=InvoiceStatus.DRAFT, due=date(2026, 10, 1))
    await session.commit()

    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED))

    assert [i.number for i in page.items] == ["OLD", "DRAFT", "TODAY"]
    assert page.total_count == 3
    assert [i.days_overdue for i in page.items] == [83, 53, 0]


async def test_ready_invoice_has_no_problems(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme)
    await session.commit()
    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED))
    assert page.items[0].ready
    assert page.items[0].recipients == ("ap@acme.example",)


async def test_customer_without_email_is_not_ready(session: AsyncSession, org):
    nobody = await factories.customer(session, org.id, ref="NOMAIL", name="No Mail GmbH", emails=())
    await factories.invoice(session, org.id, nobody)
    await session.commit()
    assert await _reasons(session, org) == {"INV-0001": {NotReadyReason.NO_EMAIL}}


async def test_draft_is_not_ready(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, status=InvoiceStatus.DRAFT)
    await session.commit()
    assert await _reasons(session, org) == {"INV-0001": {NotReadyReason.DRAFT}}


async def test_sending_not_configured_and_not_verified_are_reasons(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme)
    await session.commit()
    not_configured = await _reasons(session, org, SendingState(configured=False, verified=False))
    assert not_configured == {"INV-0001": {NotReadyReason.SENDING_NOT_CONFIGURED}}
    failed = SendingState(configured=True, verified=False, detail="535 authentication failed")
    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=failed))
    assert [p.message for p in page.items[0].problems] == ["SMTP settings are not verified: 535 authentication failed"]


async def test_suppressed_address_is_named_in_the_reason(session: AsyncSession, org):
    acme = await factories.customer(session, org.id, emails=("ap@acme.example", "Boss@Acme.example"))
    await factories.invoice(session, org.id, acme)
    session.add(Suppression(organisation_id=org.id, email="boss@acme.example", reason="hard_bounce"))
    await session.commit()
    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED))
    [problem] = page.items[0].problems
    assert problem.reason == NotReadyReason.SUPPRESSED
    assert problem.message == "Boss@acme.example is on the suppression list (bounced permanently before)"


async def test_lifted_suppression_no_longer_blocks(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme)
    session.add(Suppression(organisation_id=org.id, email="ap@acme.example", reason="complaint", active=False))
    await session.commit()
    assert await _reasons(session, org) == {"INV-0001": set()}


async def test_every_reason_at_once(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, status=InvoiceStatus.DRAFT)
    session.add(Suppression(organisation_id=org.id, email="ap@acme.example", reason="hard_bounce"))
    await session.commit()
    reasons = await _reasons(session, org, SendingState(configured=True, verified=False))
    assert reasons == {"INV-0001": {NotReadyReason.DRAFT, NotReadyReason.SMTP_NOT_VERIFIED, NotReadyReason.SUPPRESSED}}


async def test_pages_and_customer_filter(session: AsyncSession, org):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex SA", emails=("f@globex.example",))
    for n in range(25):
        await factories.invoice(
            session, org.id, acme if n % 5 else globex, number=f"INV-{n:04d}", due=date(2026, 10, 1 + n)
        )
    await session.commit()

    first = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED), page_size=10
    )
    third = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED), page=3, page_size=10
    )
    beyond = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED), page=9, page_size=10
    )
    globex_only = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED, customer="glob")
    )
    nobody = await list_due_invoices(
        session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED, customer="initech")
    )

    assert (first.total_count, first.page_count, first.has_next, first.has_previous) == (25, 3, True, False)
    assert [i.number for i in third.items] == [f"INV-{n:04d}" for n in range(20, 25)]
    assert beyond.page == 3
    assert [i.number for i in globex_only.items] == ["INV-0000", "INV-0005", "INV-0010", "INV-0015", "INV-0020"]
    assert nobody.items == () and nobody.total_count == 0


async def test_other_organisations_invoices_are_invisible(session: AsyncSession, org):
    other = Organisation(name="Other", sender_email="x@other.example")
    session.add(other)
    await session.flush()
    theirs = await factories.customer(session, other.id)
    await factories.invoice(session, other.id, theirs)
    await session.commit()
    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED))
    assert page.items == ()
