"""An invoice's balance, the one rule: its total less its payments and less its issued credit notes.

A credit note reduces the balance of the invoice it corrects once it is issued (validated, sent or
paid); a draft or void one reduces nothing. Amounts are summed in Python because SQLite keeps money
as exact text, where a SQL SUM would turn it into a float. Every surface that shows or judges a
balance (payments, aging, App Home, `/invoices show`, the import's credit-note check) reads it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.db.models import DocumentKind, Invoice, InvoiceStatus, Payment
from services.money import round_money


@dataclass(frozen=True)
class Balance:
    """What an invoice totals, what was paid and credited against it, and what is still owed."""

    total: Decimal
    paid: Decimal
    credited: Decimal = Decimal(0)

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.paid - self.credited


def balance_of(total: Decimal, paid: Decimal | None, credited: Decimal | None = None) -> Balance:
    """The one rule for an invoice's balance: its total less what was paid against it and less
    its issued credit notes (`credited_amounts`)."""
    return Balance(total=Decimal(total), paid=Decimal(paid or 0), credited=Decimal(credited or 0))


CREDITING_STATUSES = (InvoiceStatus.VALIDATED, InvoiceStatus.SENT, InvoiceStatus.PAID)


def crediting_note_filter(note: type[Invoice] = Invoice) -> ColumnElement[bool]:
    """The credit notes that reduce a balance: issued ones (validated, sent or paid); `note` is
    the invoices table or an alias of it."""
    return and_(note.kind == DocumentKind.CREDIT_NOTE, note.status.in_(CREDITING_STATUSES))


def select_payments(invoice_ids: Iterable[int]) -> Select[int, Decimal]:
    """(invoice id, amount) of these invoices' payments: one indexed query (`ix_payments_invoice`)."""
    return select(Payment.invoice_id, Payment.amount).where(Payment.invoice_id.in_(sorted(set(invoice_ids))))


def summed_by_invoice(rows: Iterable[tuple[int | None, Decimal]]) -> dict[int, Decimal]:
    """invoice id → the sum of its amounts (rows of `select_payments`, or of credit notes), summed exactly."""
    summed: dict[int, Decimal] = {}
    for invoice_id, amount in rows:
        if invoice_id is not None:
            summed[invoice_id] = summed.get(invoice_id, Decimal(0)) + amount
    return summed


def select_credits(invoice_ids: Iterable[int]) -> Select[int | None, Decimal]:
    """(invoice id, total) of the issued credit notes correcting these invoices: one query."""
    return select(Invoice.corrects_invoice_id, Invoice.total).where(
        Invoice.corrects_invoice_id.in_(sorted(set(invoice_ids))), crediting_note_filter()
    )


def touched_by_payment_or_credit(invoice_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether the invoice `invoice_id` has a payment or an issued credit note: two index probes
    (`ix_payments_invoice`, `ix_invoices_corrects`). A query over many invoices selects it as a column
    and fetches amounts (`paid_amounts`, `credited_amounts`) only for those where it holds, since an
    invoice without either owes its total; the amounts themselves are still summed here, exactly."""
    note = aliased(Invoice)
    paid = exists().where(Payment.invoice_id == invoice_id)
    credited = exists().where(note.corrects_invoice_id == invoice_id, crediting_note_filter(note))
    return paid | credited


async def paid_amounts(session: AsyncSession, invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    """invoice id → the sum of its payments, for the invoices that have any (one indexed query)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    return summed_by_invoice(await session.execute(select_payments(ids)))


async def credited_amounts(session: AsyncSession, invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    """invoice id → the sum of its issued credit notes' totals, for the invoices that have any."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    return summed_by_invoice(await session.execute(select_credits(ids)))


def money_words(amount: Decimal, currency: str) -> str:
    """ "120.00 EUR": plain, the same for every reader of a refusal or an audit entry."""
    return f"{round_money(amount, currency)} {currency}"


async def corrected_invoice_number(session: AsyncSession, note: Invoice) -> str:
    """The number of the invoice `note` corrects; empty when `note` is an invoice."""
    if note.corrects_invoice_id is None:
        return ""
    number = await session.scalar(select(Invoice.number).where(Invoice.id == note.corrects_invoice_id))
    return number or ""


@dataclass(frozen=True)
class CreditNoteSummary:
    """One credit note of an invoice, as `/invoices show` lists it."""

    number: str
    total: Decimal
    status: str


async def credit_notes_of(session: AsyncSession, invoice_id: int) -> tuple[CreditNoteSummary, ...]:
    """Every credit note correcting this invoice (draft and void ones too, marked by their status), oldest first."""
    rows = await session.execute(
        select(Invoice.number, Invoice.total, Invoice.status)
        .where(Invoice.corrects_invoice_id == invoice_id, Invoice.kind == DocumentKind.CREDIT_NOTE)
        .order_by(Invoice.issue_date, Invoice.id)
    )
    return tuple(CreditNoteSummary(number, total, str(status)) for number, total, status in rows)
