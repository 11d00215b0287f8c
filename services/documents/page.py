"""The invoice link page (`/i/<token>`) as HTML, from the same `InvoiceDocument` as the PDF and UBL.

One source of facts for all three means the page can never show a total the PDF does not.
The page is our own template (not a user's), rendered with autoescaping: every value in
it — names, addresses, line descriptions — comes from data and is escaped.

The stylesheet is inlined so the page is one request; `PAGE_STYLE_HASH` is its SHA-256 for
the Content-Security-Policy, which otherwise allows no inline style or script at all.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from services.db.models import InvoiceStatus
from services.documents.formats import DocumentFormats, payment_request
from services.documents.labels import LABELS, label
from services.documents.model import InvoiceDocument
from services.documents.payment_qr import epc_qr_data_uri
from services.field_rules import iban_shown

TEMPLATES_DIR = Path(__file__).parent / "templates"
PAGE_CSS = (TEMPLATES_DIR / "invoice_page.css").read_text(encoding="utf-8")
PAGE_STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(PAGE_CSS.encode("utf-8")).digest()).decode("ascii")


class PaymentStateKind(StrEnum):
    PAID = "paid"
    VOID = "void"
    DUE = "due"
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"
    CREDIT = "credit"  # a credit note: nothing falls due


@dataclass(frozen=True)
class PaymentState:
    """Where the invoice stands for the customer, in their words: "Overdue by 3 days"."""

    kind: PaymentStateKind
    words: str


def describe_payment_state(*, status: str, due_date: date, today: date, language: str) -> PaymentState:
    """Paid and cancelled invoices say so; otherwise the days to (or past) the due date."""
    if status == InvoiceStatus.PAID:
        return PaymentState(PaymentStateKind.PAID, label("status_paid", language))
    if status == InvoiceStatus.VOID:
        return PaymentState(PaymentStateKind.VOID, label("status_void", language))
    days = (due_date - today).days
    if days == 0:
        return PaymentState(PaymentStateKind.DUE_TODAY, label("status_due_today", language))
    kind = PaymentStateKind.DUE if days > 0 else PaymentStateKind.OVERDUE
    key = f"status_{'due_in' if days > 0 else 'overdue'}_{'one' if abs(days) == 1 else 'other'}"
    return PaymentState(kind, label(key, language).format(days=abs(days)))


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def _template(name: str) -> Template:
    return _environment().get_template(name)


def render_invoice_page(document: InvoiceDocument, *, state: PaymentState, pdf_url: str, ubl_url: str) -> str:
    """The whole page, in the document's language (the customer's), amounts and dates as they write them.

    Once a payment is recorded (`document.paid`), the totals add what was paid and the balance
    due, and the payment sentence and QR code ask for the balance.
    """
    language = document.language
    formats = DocumentFormats(locale=document.locale, currency=document.currency)
    words = {key: label(key, language) for key in LABELS}
    pay_by = payment_request(document)
    corrects = ""
    if document.corrects is not None:  # a credit note: titled as one, asking for no payment
        words |= {"invoice": label("credit_note", language), "total": label("total_credited", language)}
        corrects = label("corrects_invoice", language).format(
            number=document.corrects.number, date=formats.date(document.corrects.issue_date)
        )
        if state.kind != PaymentStateKind.VOID:
            state = PaymentState(PaymentStateKind.CREDIT, label("credit_note", language))
    return _template("invoice_page.html.j2").render(
        doc=document,
        t=words,
        fmt=formats,
        language=language,
        status=state,
        pay_by=pay_by,
        corrects=corrects,
        iban=iban_shown(document.payment.iban),
        qr_uri=epc_qr_data_uri(document),
        pdf_url=pdf_url,
        ubl_url=ubl_url,
        css=Markup(PAGE_CSS),  # noqa: S704 - our own stylesheet file, not data
    )


ASK_FOR_A_NEW_LINK = "Please ask the sender for a new link."


def render_link_not_found_page(message: str, *, hint: str | None = ASK_FOR_A_NEW_LINK) -> str:
    """The page for a link that opens nothing: unknown or expired (one text for both), withdrawn."""
    css = Markup(PAGE_CSS)  # noqa: S704 - our own stylesheet file, not data
    return _template("link_not_found.html.j2").render(message=message, hint=hint, css=css)
