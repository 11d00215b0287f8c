"""Loading an invoice document from the database (SQLite, or PostgreSQL via TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Invoice, Organisation, utcnow
from services.documents.model import EXEMPT, STANDARD_RATE, ZERO_RATED, load_invoice_document, tax_category
from services.documents.pdf import render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.documents.validation import validate_ubl_xsd
from services.errors import InvalidInput, NotFound
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.invoicing.payment_reference import payment_reference
from services.postal_address import PostalAddress

PUBLIC_URL = "https://invoices.example.com/"


async def _invoice(session: AsyncSession, org: Organisation) -> Invoice:
    org.iban = "GB33BUKB20201555555555"
    org.bic = "BUKBGB22"
    customer = await upsert_customer(
        session,
        organisation_id=org.id,
        data=CustomerData(
            ref="PAPA",
            name="Παπαδόπουλος Α.Ε.",
            emails=("logistirio@papadopoulos.example", "ceo@papadopoulos.example"),
            language="el",
            street="Οδός Ερμού 12",
            city="Αθήνα",
            postal_code="105 63",
            country="GR",
            tax_id="EL123456789",
        ),
    )
    invoice = await create_invoice(
        session,
        organisation_id=org.id,
        customer=customer,
        data=InvoiceData(
            number="INV-0007",
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 10, 31),
            currency="EUR",
            lines=[
                LineData("Consulting", Decimal(3), Decimal("150.00"), Decimal(20)),
                LineData("Books", Decimal(7), Decimal("12.99"), Decimal("5.5")),
                LineData("Freight", Decimal(1), Decimal("80"), Decimal(0)),
            ],
            notes="Thank you!",
        ),
    )
    await session.commit()
    return invoice


async def test_document_holds_the_organisation_customer_lines_and_totals(
    session: AsyncSession, org: Organisation
) -> None:
    invoice = await _invoice(session, org)

    doc = await load_invoice_document(session, organisation_id=org.id, invoice_id=invoice.id, public_url=PUBLIC_URL)

    assert (doc.number, doc.issue_date, doc.due_date, doc.currency) == (
        "INV-0007",
        date(2026, 10, 1),
        date(2026, 10, 31),
        "EUR",
    )
    assert doc.language == "en"  # Greek is not one of the document languages yet
    assert doc.seller.name == "Example Trading Ltd"
    assert doc.seller.address == PostalAddress(street="1 Example Street", city="London", country="GB")
    assert (doc.seller.country, doc.seller.tax_id, doc.seller.email) == ("GB", "GB123456789", "invoices@example.com")
    assert doc.buyer.name == "Παπαδόπουλος Α.Ε."
    assert doc.buyer.address == PostalAddress(street="Οδός Ερμού 12", city="Αθήνα", postal_code="105 63", country="GR")
    assert (doc.buyer.country, doc.buyer.tax_id, doc.buyer.email) == (
        "GR",
        "EL123456789",
        "logistirio@papadopoulos.example",
    )
    assert [(line.position, line.description, line.net_amount, line.tax_category) for line in doc.lines] == [
        (1, "Consulting", Decimal("450.00"), STANDARD_RATE),
        (2, "Books", Decimal("90.93"), STANDARD_RATE),
        (3, "Freight", Decimal("80.00"), ZERO_RATED),
    ]
    assert [(tax.category, tax.rate, tax.taxable, tax.tax) for tax in doc.taxes] == [
        (ZERO_RATED, Decimal(0), Decimal("80.00"), Decimal("0.00")),
        (STANDARD_RATE, Decimal("5.5"), Decimal("90.93"), Decimal("5.00")),
        (STANDARD_RATE, Decimal(20), Decimal("450.00"), Decimal("90.00")),
    ]
    assert (doc.subtotal, doc.tax_total, doc.total) == (invoice.subtotal, invoice.tax_total, invoice.total)
    assert doc.total == Decimal("715.93")
    assert (doc.payment.reference, doc.payment.iban, doc.payment.bic) == (
        payment_reference(invoice.id, seller_country=org.country),
        org.iban,
        org.bic,
    )
    assert doc.payment.reference.startswith("RF")  # a GB seller: an ISO 11649 creditor reference
    assert doc.invoice_url == f"https://invoices.example.com/i/{invoice.public_token}"
    assert doc.buyer_reference == "PAPA"
    assert doc.notes == "Thank you!"


async def test_loaded_document_renders_a_pdf_and_a_schema_valid_ubl(session: AsyncSession, org: Organisation) -> None:
    invoice = await _invoice(session, org)

    doc = await load_invoice_document(session, organisation_id=org.id, invoice_id=invoice.id, public_url=PUBLIC_URL)

    assert render_invoice_pdf(doc).startswith(b"%PDF-")
    assert validate_ubl_xsd(render_invoice_ubl(doc)) == []


async def test_invoice_recipients_come_before_the_customer_emails(session: AsyncSession, org: Organisation) -> None:
    invoice = await _invoice(session, org)
    invoice.recipient_emails = ["accounts@papadopoulos.example"]
    await session.commit()

    doc = await load_invoice_document(session, organisation_id=org.id, invoice_id=invoice.id, public_url=PUBLIC_URL)

    assert doc.buyer.email == "accounts@papadopoulos.example"


async def test_revoked_link_is_left_out_of_the_document(session: AsyncSession, org: Organisation) -> None:
    invoice = await _invoice(session, org)
    invoice.token_revoked_at = utcnow()
    await session.commit()

    doc = await load_invoice_document(session, organisation_id=org.id, invoice_id=invoice.id, public_url=PUBLIC_URL)

    assert doc.invoice_url is None


async def test_stored_totals_that_disagree_with_the_lines_are_refused(session: AsyncSession, org: Organisation) -> None:
    invoice = await _invoice(session, org)
    invoice.total = Decimal("700.00")
    await session.commit()

    with pytest.raises(InvalidInput, match=r"INV-0007 says its total is 700\.00 EUR, but its lines add up to 715\.93"):
        await load_invoice_document(session, organisation_id=org.id, invoice_id=invoice.id, public_url=PUBLIC_URL)


async def test_another_organisations_invoice_is_not_found(session: AsyncSession, org: Organisation) -> None:
    invoice = await _invoice(session, org)
    other = Organisation(name="Other Ltd")
    session.add(other)
    await session.commit()

    with pytest.raises(NotFound):
        await load_invoice_document(session, organisation_id=other.id, invoice_id=invoice.id, public_url=PUBLIC_URL)
    with pytest.raises(NotFound):
        await load_invoice_document(
            session, organisation_id=org.id, invoice_id=invoice.id + 1000, public_url=PUBLIC_URL
        )


def test_zero_rate_is_exempt_only_with_a_reason() -> None:
    assert tax_category(Decimal(20)) == STANDARD_RATE
    assert tax_category(Decimal(0)) == ZERO_RATED
    assert tax_category(Decimal(0), exemption_reason="Article 132") == EXEMPT
