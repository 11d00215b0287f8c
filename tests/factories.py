"""Small builders for test data, over the real services (no fakes of our own modules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, Invoice, InvoiceStatus
from services.invoice_entry import CustomerData, LineData, create_invoice, upsert_customer


async def customer(
    session: AsyncSession,
    organisation_id: int,
    *,
    ref: str = "ACME",
    name: str = "Acme Corp",
    emails: tuple[str, ...] = ("ap@acme.example",),
    language: str = "en",
    country: str | None = "BE",
) -> Customer:
    return await upsert_customer(
        session,
        organisation_id=organisation_id,
        data=CustomerData(ref=ref, name=name, emails=emails, language=language, country=country),
    )


async def invoice(
    session: AsyncSession,
    organisation_id: int,
    owner: Customer,
    *,
    number: str = "INV-0001",
    due: date = date(2026, 11, 1),
    status: InvoiceStatus = InvoiceStatus.VALIDATED,
    amount: str = "100.00",
    currency: str = "EUR",
) -> Invoice:
    return await create_invoice(
        session,
        organisation_id=organisation_id,
        customer=owner,
        number=number,
        issue_date=date(2026, 10, 1),
        due_date=due,
        currency=currency,
        lines=[LineData("Consulting", Decimal(1), Decimal(amount), Decimal(20))],
        status=status,
    )
