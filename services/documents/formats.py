"""Numbers, money, dates and country names of one document, in its reader's locale.

A thin binding of `services.formatting` (the one place values are formatted) to the
document's locale and currency, so the PDF and the link page need not repeat them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.documents.labels import label
from services.documents.model import InvoiceDocument, PaymentData
from services.email.templates import PaymentDetails
from services.field_rules import iban_shown
from services.formatting import (
    country_name,
    format_day,
    format_money,
    format_quantity,
    format_rate,
    format_unit_price,
)
from services.postal_address import PostalAddress, address_lines


class DocumentFormats:
    def __init__(self, *, locale: str, currency: str) -> None:
        self.locale = locale
        self.currency = currency

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.currency, self.locale)

    def unit_price(self, amount: Decimal) -> str:
        return format_unit_price(amount, self.currency, self.locale)

    def quantity(self, amount: Decimal) -> str:
        return format_quantity(amount, self.locale)

    def rate(self, percent: Decimal) -> str:
        return format_rate(percent, self.locale)

    def date(self, value: date) -> str:
        return format_day(value, self.locale)

    def country(self, code: str | None) -> str | None:
        return country_name(code, self.locale)

    def address(self, address: PostalAddress) -> tuple[str, ...]:
        """The address's lines in its country's order, then the country's name in the reader's language."""
        country = self.country(address.country)
        reader_country = self.locale.partition("_")[2] or None
        lines = address_lines(address, default_country=reader_country)
        return (*lines, country) if country else lines


def payment_request(document: InvoiceDocument) -> str:
    """ "Please pay £120.00 by 1 November 2026.": the one sentence the PDF, the link page and the UBL's
    payment terms say, in the document's language and locale; after a partial payment, the balance due."""
    formats = DocumentFormats(locale=document.locale, currency=document.currency)
    if document.corrects is not None:  # a credit note asks for nothing
        return label("credit_terms", document.language).format(
            number=document.corrects.number, total=formats.money(document.total)
        )
    return label("pay_by", document.language).format(
        total=formats.money(document.balance_due), date=formats.date(document.due_date)
    )


def payment_details(payment: PaymentData) -> PaymentDetails:
    """The payment facts as the invoice email prints them (the IBAN in blocks of four, as on the PDF)."""
    return PaymentDetails(
        reference=payment.reference,
        iban=iban_shown(payment.iban),
        bic=payment.bic or "",
        account_holder=(payment.account_holder or "") if payment.iban else "",
    )
