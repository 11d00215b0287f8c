"""The due listing's fast path (prebuilt statements, literal LIMIT/OFFSET, Core on the
session's connection) must answer exactly what the plain ORM query would."""

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Invoice, InvoiceStatus, Organisation, Suppression
from services.sending.due import DueQuery, count_due_invoices, list_due_invoices, suppressed_addresses
from services.sending.readiness import SendingState
from tests import factories

TODAY = date(2026, 11, 23)
VERIFIED = SendingState(configured=True, verified=True)


async def test_every_page_size_walks_all_due_invoices_once_in_order(session: AsyncSession, org: Organisation):
    acme = await factories.customer(session, org.id)
    for n in range(17):
        await factories.invoice(session, org.id, acme, number=f"INV-{n:04d}", due=date(2026, 10, 1 + n))
    await session.commit()
    expected = [f"INV-{n:04d}" for n in range(17)]

    for page_size in (1, 3, 7, 10, 50):
        seen: list[str] = []
        page_number = 1
        while page_number <= 17:
            page = await list_due_invoices(
                session,
                DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED),
                page=page_number,
                page_size=page_size,
            )
            seen.extend(item.number for item in page.items)
            if not page.has_next:
                break
            page_number += 1
        assert seen == expected, f"page size {page_size}"


async def test_an_invoice_added_but_not_yet_flushed_is_listed_and_counted(session: AsyncSession, org: Organisation):
    acme = await factories.customer(session, org.id)
    await session.commit()
    session.add(
        Invoice(
            organisation_id=org.id,
            number="UNFLUSHED-1",
            customer_id=acme.id,
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 11, 1),
            currency="EUR",
            status=InvoiceStatus.VALIDATED,
            subtotal=Decimal("100.00"),
            tax_total=Decimal("20.00"),
            total=Decimal("120.00"),
        )
    )

    page = await list_due_invoices(session, DueQuery(organisation_id=org.id, today=TODAY, sending=VERIFIED))

    assert [item.number for item in page.items] == ["UNFLUSHED-1"]
    assert page.total_count == 1
    assert page.items[0].total == Decimal("120.00")
    assert await count_due_invoices(session, organisation_id=org.id, today=TODAY) == 1


async def test_only_active_suppressions_are_reported_whatever_the_case(session: AsyncSession, org: Organisation):
    session.add_all(
        [
            Suppression(organisation_id=org.id, email="gone@acme.example", reason="hard_bounce"),
            Suppression(organisation_id=org.id, email="lifted@acme.example", reason="complaint", active=False),
        ]
    )
    await session.commit()

    found = await suppressed_addresses(
        session,
        organisation_id=org.id,
        emails={"Gone@Acme.example", "lifted@acme.example", "fine@acme.example"},
    )

    assert found == {"gone@acme.example": "hard_bounce"}
    assert await suppressed_addresses(session, organisation_id=org.id, emails=set()) == {}
