"""Creating customers and invoices one at a time (seed data, tests, future UI).

Bulk loading from files lives in `services/importing/loader.py`; both compute totals with
`services.invoicing.totals` so an invoice's numbers never depend on how it got in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, Invoice, InvoiceLine, InvoiceStatus
from services.email.addresses import normalise_emails
from services.email.verification import accepts_smtputf8
from services.invoicing.totals import LineAmounts, compute_totals
from services.money import check_currency
from services.postal_address import ADDRESS_PARTS


@dataclass(frozen=True)
class CustomerData:
    ref: str
    name: str
    emails: Sequence[str] = ()
    cc: Sequence[str] = ()
    language: str = "en"
    # The postal address in parts (services.postal_address); `country` is its country.
    street: str = ""
    additional: str = ""
    city: str = ""
    postal_code: str = ""
    subdivision: str = ""
    country: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True)
class LineData:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    note: str | None = None  # printed under the line when `note_visible` (else internal)
    note_visible: bool = True


async def upsert_customer(session: AsyncSession, *, organisation_id: int, data: CustomerData) -> Customer:
    customer = (
        await session.execute(
            select(Customer).where(Customer.organisation_id == organisation_id, Customer.ref == data.ref)
        )
    ).scalar_one_or_none()
    if customer is None:
        customer = Customer(organisation_id=organisation_id, ref=data.ref)
        session.add(customer)
    customer.name = data.name
    smtputf8 = await accepts_smtputf8(session, organisation_id=organisation_id)
    customer.emails = normalise_emails(data.emails, smtputf8=smtputf8)
    customer.cc = normalise_emails(data.cc, smtputf8=smtputf8)
    customer.language = data.language
    for column in ADDRESS_PARTS:
        setattr(customer, column, getattr(data, column))
    customer.country = data.country
    customer.tax_id = data.tax_id
    await session.flush()
    return customer


@dataclass(frozen=True, kw_only=True)
class InvoiceData:
    """One invoice as it is entered: its totals are computed from `lines` when it is created."""

    number: str
    issue_date: date
    due_date: date
    currency: str
    lines: Sequence[LineData]
    status: InvoiceStatus = InvoiceStatus.DRAFT
    notes: str | None = None
    notes_visible: bool = True


async def create_invoice(
    session: AsyncSession, *, organisation_id: int, customer: Customer, data: InvoiceData
) -> Invoice:
    """Add `data` as `customer`'s invoice, with its lines and totals (InvalidInput for an unknown currency)."""
    lines = data.lines
    currency = check_currency(data.currency)
    totals = compute_totals((LineAmounts(line.quantity, line.unit_price, line.tax_rate) for line in lines), currency)
    invoice = Invoice(
        organisation_id=organisation_id,
        number=data.number,
        customer_id=customer.id,
        issue_date=data.issue_date,
        due_date=data.due_date,
        currency=currency,
        status=data.status,
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        total=totals.total,
        notes=data.notes,
        notes_visible=data.notes_visible,
    )
    invoice.lines = [
        InvoiceLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            net_amount=net,
            note=line.note,
            note_visible=line.note_visible,
        )
        for position, (line, net) in enumerate(zip(lines, totals.line_nets, strict=True), start=1)
    ]
    session.add(invoice)
    await session.flush()
    return invoice


def select_line_values(
    invoice_ids: Sequence[int],
) -> Select[int, str, Decimal, Decimal, Decimal, str | None, bool]:
    """(invoice id, description, quantity, unit price, tax rate, note, note visible) of these
    invoices' lines, in order.

    Plain rows rather than ORM objects, for readers of many invoices at once (the send
    worker's batch, the importer's comparison) that only read them.
    """
    return (
        select(
            InvoiceLine.invoice_id,
            InvoiceLine.description,
            InvoiceLine.quantity,
            InvoiceLine.unit_price,
            InvoiceLine.tax_rate,
            InvoiceLine.note,
            InvoiceLine.note_visible,
        )
        .where(InvoiceLine.invoice_id.in_(list(invoice_ids)))
        .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
    )
