"""Invoice documents for the renderer tests, built the way production builds them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from services.documents.model import (
    DocumentFacts,
    InvoiceDocument,
    LineInput,
    PartyData,
    PaymentData,
    build_invoice_document,
)
from services.postal_address import PostalAddress

SELLER = PartyData(
    name="Example Trading Ltd",
    address=PostalAddress(street="1 Example Street", city="London", postal_code="EC1A 1BB", country="GB"),
    tax_id="GB123456789",
    email="invoices@example.com",
)
BUYER = PartyData(
    name="Acme SARL",
    address=PostalAddress(street="12 rue de la Paix", city="Paris", postal_code="75002", country="FR"),
    tax_id="FR12345678901",
    email="ap@acme.example",
)
GREEK_BUYER = PartyData(
    name="Παπαδόπουλος Α.Ε.",
    address=PostalAddress(street="Οδός Ερμού 12", city="Αθήνα", postal_code="105 63", country="GR"),
    tax_id="EL123456789",
    email="logistirio@papadopoulos.example",
)
CYRILLIC_BUYER = PartyData(
    name="ООО «Ромашка»",
    address=PostalAddress(street="ул. Тверская, 7", city="Москва", postal_code="125009", country="RU"),
    email="buh@romashka.example",
)


def line(description: str, quantity: str, unit_price: str, tax_rate: str) -> LineInput:
    return LineInput(description, Decimal(quantity), Decimal(unit_price), Decimal(tax_rate))


def document(
    *,
    lines: Sequence[LineInput] = (line("Consulting, October", "1", "100.00", "20"),),
    buyer: PartyData = BUYER,
    currency: str = "EUR",
    language: str = "en",
    **overrides: Any,
) -> InvoiceDocument:
    values: dict[str, Any] = {
        "number": "INV-2026-0042",
        "issue_date": date(2026, 10, 1),
        "due_date": date(2026, 10, 31),
        "currency": currency,
        "language": language,
        "seller": SELLER,
        "buyer": buyer,
        "lines": lines,
        "payment": PaymentData(reference="INV-2026-0042", iban="GB33BUKB20201555555555", bic="BUKBGB22"),
        "invoice_url": "http://localhost:3000/i/token",
    }
    values.update(overrides)
    return build_invoice_document(DocumentFacts(**values))


def long_document(count: int = 80, **overrides: Any) -> InvoiceDocument:
    lines = [
        line(f"Item {number:03d}: support hours for the migration project", str(number % 4 + 1), "42.50", "20")
        for number in range(1, count + 1)
    ]
    return document(lines=lines, **overrides)
