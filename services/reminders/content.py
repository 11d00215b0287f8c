"""What a payment reminder email says: subject, text and HTML, in the customer's language and the step's tone.

A reminder is one email per customer and ladder step listing every open invoice of that
customer at the step (issue 14). This module is pure: it takes `ReminderFacts` (plain values
the caller read from the database) and returns the `RenderedEmail` the invoice email also
uses, so a reminder goes through the same composer and pipeline.

The wording lives in templates under `services/email/templates/reminders/`: one structure for
the subject, the text body and the HTML body, and one `wording.j2` per language holding every
sentence and label, so the text and the HTML say the same words and a language is written
once, as a whole (not assembled word by word here). They render in the invoice email's
sandboxed environment, with its HTML layout and CSS inlining (`render_shipped_template`).
Organisation template overrides are not applied: they are stored per part of the *invoice*
email and would replace a reminder's wording with an invoice's.

Amounts and dates are written by `services.formatting` in the reader's `locale`; totals are
summed per currency and never across currencies; a fee line appears only when the caller
gives one (the ladder's step), never by default.

Boundary with the database: `reminder_invoice` turns an `InvoiceDocument` (what
`services.documents.model.read_invoice_documents` loads for the send worker) plus its
outstanding balance into a `ReminderInvoice`, and `reminder_attachments` turns the same
documents into the PDF attachments, rendered the way an invoice email's PDF is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.documents.formats import payment_details
from services.documents.model import InvoiceDocument
from services.documents.pdf import invoice_pdf_attachment
from services.email.message import Attachment
from services.email.templates import PaymentDetails, RenderedEmail, render_shipped_template
from services.errors import InvalidInput
from services.formatting import format_day, format_money
from services.languages import normalise_language
from services.money import round_money

TONES: tuple[str, ...] = ("friendly", "neutral", "firm")
"""From the gentlest to the strictest; a ladder step's tone is one of these (a StrEnum value is accepted)."""

SUBJECT_NUMBERS_LIMIT = 3
"""A subject names up to this many invoices; beyond, it gives their count (the body lists them all)."""

TEMPLATE_ROOT = "reminders"


@dataclass(frozen=True, kw_only=True)
class ReminderInvoice:
    """One invoice as a reminder lists it. `days_overdue` is the days since its due date on the day
    the reminder goes out: negative before it, 0 on it. `payment` carries its own reference and
    the account it is paid to (`payment_details` of its document)."""

    number: str
    issue_date: date
    due_date: date
    currency: str
    total: Decimal
    outstanding: Decimal
    days_overdue: int
    invoice_url: str | None
    payment: PaymentDetails


@dataclass(frozen=True, kw_only=True)
class FeeLine:
    """A reminder fee or interest line the ladder step asks for. `label` None uses the language's own
    word for a reminder fee. It is added to its currency's total."""

    amount: Decimal
    currency: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class ReminderFacts:
    """Everything a reminder says, before wording. `locale` is the reader's (`InvoiceDocument.locale`:
    the language as written in the seller's country); `offset_days` is the ladder step (−3, 0, +7…)."""

    organisation_name: str
    sender_name: str | None
    customer_name: str
    language: str
    locale: str
    tone: str
    offset_days: int
    invoices: Sequence[ReminderInvoice]
    fee: FeeLine | None = None
    pixel_url: str | None = None  # the open pixel the send worker adds when tracking opens is on

    @property
    def totals(self) -> tuple[CurrencyTotal, ...]:
        """What is owed per currency (outstanding balances, plus the fee in its currency), in the order the
        currencies first appear. Never summed across currencies."""
        sums: dict[str, Decimal] = {}
        for invoice in self.invoices:
            sums[invoice.currency] = sums.get(invoice.currency, Decimal(0)) + round_money(
                invoice.outstanding, invoice.currency
            )
        if self.fee is not None:
            sums[self.fee.currency] = sums.get(self.fee.currency, Decimal(0)) + round_money(
                self.fee.amount, self.fee.currency
            )
        return tuple(CurrencyTotal(currency, amount) for currency, amount in sums.items())


def check_reminder_facts(facts: ReminderFacts) -> None:
    """Refuse, with a sentence, facts a reminder cannot honestly be written from."""
    if facts.tone not in TONES:
        raise InvalidInput(f"{facts.tone!r} is not a reminder tone: use friendly, neutral or firm.")
    if not facts.invoices:
        raise InvalidInput("A reminder lists at least one invoice; this one has none.")
    numbers = [invoice.number for invoice in facts.invoices]
    if len(set(numbers)) != len(numbers):
        raise InvalidInput(f"A reminder lists each invoice once; {', '.join(numbers)} repeats one.")
    for invoice in facts.invoices:
        if invoice.outstanding <= 0:
            raise InvalidInput(f"Invoice {invoice.number} has nothing outstanding: it needs no reminder.")
    if facts.fee is not None and facts.fee.amount <= 0:
        raise InvalidInput(f"A reminder's fee line must be a positive amount, not {facts.fee.amount}.")


def render_reminder_email(facts: ReminderFacts) -> RenderedEmail:
    """The reminder's subject, text and HTML in the facts' language (English when we have no wording for it).

    Raises InvalidInput for facts no reminder should be written from (see `check_reminder_facts`).
    """
    check_reminder_facts(facts)
    variables = _variables(facts)
    subject = " ".join(render_shipped_template(f"{TEMPLATE_ROOT}/subject.j2", variables, html=False).split())
    text = render_shipped_template(f"{TEMPLATE_ROOT}/body.txt.j2", variables, html=False)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    html = render_shipped_template(f"{TEMPLATE_ROOT}/body.html.j2", variables, html=True)
    return RenderedEmail(subject=subject, text=text, html=html)


def _timing(offset_days: int) -> str:
    return "before" if offset_days < 0 else "today" if offset_days == 0 else "overdue"


def _variables(facts: ReminderFacts) -> dict[str, Any]:
    """The templates' values: every amount and date already written for the reader."""
    locale = facts.locale
    accounts = {(i.payment.iban, i.payment.bic, i.payment.account_holder) for i in facts.invoices if i.payment.iban}
    shared_account = len(accounts) == 1
    days = {invoice.days_overdue for invoice in facts.invoices}
    timing = _timing(facts.offset_days)
    common_days = days.pop() if len(days) == 1 else None
    if common_days is not None and _timing(common_days) != timing:
        common_days = None  # the listed invoices do not sit where the step says: name no count of days
    invoices = [
        {
            "number": invoice.number,
            "issue_date": format_day(invoice.issue_date, locale),
            "due_date": format_day(invoice.due_date, locale),
            "total": format_money(invoice.total, invoice.currency, locale),
            "outstanding": format_money(invoice.outstanding, invoice.currency, locale),
            "partly_paid": round_money(invoice.outstanding, invoice.currency)
            != round_money(invoice.total, invoice.currency),
            "days_overdue": invoice.days_overdue,
            "url": invoice.invoice_url or "",
            "reference": invoice.payment.reference,
            "account": _account(invoice.payment) if invoice.payment.iban and not shared_account else None,
        }
        for invoice in facts.invoices
    ]
    first = facts.invoices[0]
    totals = facts.totals
    return {
        "language": normalise_language(facts.language),
        "organisation_name": facts.organisation_name,
        "sender_name": facts.sender_name or "",
        "customer_name": facts.customer_name,
        "tone": facts.tone,
        "timing": timing,
        "days": abs(common_days) if common_days is not None else None,
        "due_date": format_day(first.due_date, locale) if len({i.due_date for i in facts.invoices}) == 1 else "",
        "count": len(invoices),
        "numbers": [invoice["number"] for invoice in invoices],
        "subject_limit": SUBJECT_NUMBERS_LIMIT,
        "invoices": invoices,
        "fee": (
            {"label": facts.fee.label or "", "amount": format_money(facts.fee.amount, facts.fee.currency, locale)}
            if facts.fee is not None
            else None
        ),
        "totals": [
            {"currency": total.currency, "amount": format_money(total.amount, total.currency, locale)}
            for total in totals
        ],
        "several_currencies": len(totals) > 1,
        "account": _account(first.payment) if shared_account and first.payment.iban else None,
        "has_account": bool(accounts),
        "pixel_url": facts.pixel_url,
    }


def _account(payment: PaymentDetails) -> dict[str, str]:
    return {"iban": payment.iban, "bic": payment.bic, "holder": payment.account_holder}


def reminder_invoice(document: InvoiceDocument, *, outstanding: Decimal, today: date) -> ReminderInvoice:
    """An invoice as a reminder lists it, from the document the send worker loads (`read_invoice_documents`)
    and its outstanding balance (`services.invoicing.payments.balance_of`), on the reader's `today`."""
    return ReminderInvoice(
        number=document.number,
        issue_date=document.issue_date,
        due_date=document.due_date,
        currency=document.currency,
        total=document.total,
        outstanding=outstanding,
        days_overdue=(today - document.due_date).days,
        invoice_url=document.invoice_url,
        payment=payment_details(document.payment),
    )


def reminder_attachments(documents: Iterable[InvoiceDocument]) -> list[Attachment]:
    """Each listed invoice's PDF, rendered as the invoice email's is (`NUMBER.pdf`), in the listing's order.

    CPU-bound (reportlab): the send worker calls it inside its render process, as it does for invoices.
    """
    return [invoice_pdf_attachment(document) for document in documents]
