"""What customers still owe, by age: the one rule for the buckets current, 1–30, 31–60, 61–90 and 90+ days.

An invoice is owed once it is validated or sent and until its balance (`payments.balance_of`,
the one balance rule) is nothing; its age is the days past its due date in the organisation's
"today" (an invoice due today or later is *current*). The daily digest reads it, and App Home's
*Due today and overdue* can: one query reads each owed invoice's due date, currency, total and
payments, and the buckets and totals per currency are
added up here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.db.models import DocumentKind, Invoice, InvoiceStatus, Payment
from services.invoicing.balance import balance_of, crediting_note_filter

OWED_STATUSES = (InvoiceStatus.VALIDATED.value, InvoiceStatus.SENT.value)
BUCKETS = ("current", "1–30", "31–60", "61–90", "90+")
_LIMITS = ((0, "current"), (30, "1–30"), (60, "31–60"), (90, "61–90"))


def age_bucket(days_overdue: int) -> str:
    """The bucket of an invoice `days_overdue` days past its due date (0 or less: current)."""
    for limit, name in _LIMITS:
        if days_overdue <= limit:
            return name
    return "90+"


@dataclass
class AgeBucket:
    """One bucket: how many invoices, and what they still owe per currency."""

    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


@dataclass(frozen=True)
class Receivables:
    """What is owed on `today`: the buckets (every name of BUCKETS), and what falls due that very day."""

    today: date
    buckets: dict[str, AgeBucket]
    due_today: AgeBucket

    def totals(self) -> dict[str, Decimal]:
        """Everything owed, per currency."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for bucket in self.buckets.values():
            for currency, amount in bucket.amounts.items():
                out[currency] += amount
        return dict(out)


async def receivables(session: AsyncSession, *, organisation_id: int, today: date) -> Receivables:
    """The organisation's owed invoices on `today` (its own time zone's date), by age and currency."""
    owed_here = (
        Invoice.organisation_id == organisation_id,
        Invoice.status.in_(OWED_STATUSES),
        Invoice.kind == DocumentKind.INVOICE,  # a credit note is owed to the customer, not by them
    )
    paid: dict[int, Decimal] = defaultdict(Decimal)  # summed here: SQLite keeps money as exact text
    for invoice_id, amount in await session.execute(
        select(Payment.invoice_id, Payment.amount).join(Invoice, Invoice.id == Payment.invoice_id).where(*owed_here)
    ):
        paid[invoice_id] += amount
    note = aliased(Invoice)
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for invoice_id, amount in await session.execute(
        select(Invoice.id, note.total)  # from the few credit notes (ix_invoices_corrects), not every invoice
        .select_from(note)
        .join(Invoice, Invoice.id == note.corrects_invoice_id)
        .where(note.corrects_invoice_id.is_not(None), *owed_here, crediting_note_filter(note))
    ):
        credited[invoice_id] += amount
    rows = await session.execute(
        select(Invoice.id, Invoice.due_date, Invoice.currency, Invoice.total).where(*owed_here)
    )
    buckets = {name: AgeBucket() for name in BUCKETS}
    due_today = AgeBucket()
    for invoice_id, due_date, currency, total in rows:
        owed = balance_of(total, paid.get(invoice_id), credited.get(invoice_id)).outstanding
        if owed <= 0:
            continue
        bucket = buckets[age_bucket((today - due_date).days)]
        bucket.count += 1
        bucket.amounts[currency] += owed
        if due_date == today:
            due_today.count += 1
            due_today.amounts[currency] += owed
    return Receivables(today=today, buckets=buckets, due_today=due_today)
