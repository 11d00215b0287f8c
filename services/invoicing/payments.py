"""Payments: money received against an invoice, full or partial; the outstanding balance.

`record_payment` is the one way a payment is written, whatever surface asked (`/invoices
paid`, the *Record payment* modal, `invoicebot invoices paid`, `invoicebot payments import`):
authorised for senders (services.authorization, `RECORD_PAYMENT`), refused with a sentence on a
draft, void or already paid invoice and when it is more than what is outstanding, audited
(`invoice.payment_recorded`), and the payment that settles the balance moves the invoice to
paid through its one transition function (`mark_paid`, with its own audit entry). The caller's
unit of work commits, so a refusal writes nothing.

The balance is one rule, `balance_of` over `paid_amounts` and `credited_amounts`
(services.invoicing.balance, re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import (
    PAYMENT_REFERENCE_LENGTH,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentSource,
)
from services.errors import IllegalTransition, InvalidInput
from services.field_rules import BadValue, check_amount, check_text
from services.invoicing.balance import (
    CREDITING_STATUSES,
    Balance,
    balance_of,
    credited_amounts,
    crediting_note_filter,
    money_words,
    paid_amounts,
    select_payments,
    summed_by_invoice,
)
from services.invoicing.invoices import InvoiceAct, close_settled_invoice, get_invoice, mark_paid
from services.invoicing.payment_reference import find_invoice_by_reference
from services.money import round_money
from services.unit_of_work import AuditEntry, write_owed

PAYMENT_ACTION = "invoice.payment_recorded"
__all__ = [
    "CREDITING_STATUSES",
    "Balance",
    "balance_of",
    "credited_amounts",
    "crediting_note_filter",
    "money_words",
    "paid_amounts",
    "select_payments",
    "summed_by_invoice",
]


async def balance_of_invoice(session: AsyncSession, invoice: Invoice) -> Balance:
    paid = (await paid_amounts(session, [invoice.id])).get(invoice.id)
    return balance_of(invoice.total, paid, (await credited_amounts(session, [invoice.id])).get(invoice.id))


@dataclass(frozen=True, kw_only=True)
class PaymentRequest:
    """A payment someone asks to record; `amount` None means the whole outstanding balance."""

    number: str
    amount: Decimal | None
    paid_on: date
    actor: str
    source: PaymentSource
    reference: str = ""
    idempotency_key: str | None = None  # set by the import: the same line twice is one payment


@dataclass(frozen=True)
class PaymentRecorded:
    """What a surface tells the person: the payment, the balance after it, and whether it closed the invoice."""

    number: str
    currency: str
    amount: Decimal
    paid: Decimal
    outstanding: Decimal
    fully_paid: bool
    created: bool = True  # False: this import line was recorded before; nothing was written

    @property
    def sentence(self) -> str:
        amount = money_words(self.amount, self.currency)
        if self.fully_paid:
            return f"Payment of {amount} recorded on {self.number}; it is now paid in full."
        outstanding = money_words(self.outstanding, self.currency)
        return f"Payment of {amount} recorded on {self.number}; {outstanding} is still outstanding."


async def invoice_for_reference(session: AsyncSession, *, organisation_id: int, reference: str) -> str:
    """The invoice number a bank line's reference names: the invoice's structured payment reference
    (RF creditor reference or Belgian structured communication, as the customer's bank passes it
    on: services.invoicing.payment_reference) finds that invoice; any other text is taken as the
    invoice number itself. The one place a bank line's reference is matched to an invoice."""
    found = await find_invoice_by_reference(session, organisation_id=organisation_id, text=reference)
    return found.number if found is not None else reference.strip()


def _why_no_payment(invoice: Invoice) -> str | None:
    if invoice.kind == DocumentKind.CREDIT_NOTE:
        return f"{invoice.number} is a credit note; payments are recorded on invoices."
    status = InvoiceStatus(invoice.status)
    if status == InvoiceStatus.DRAFT:
        return f"Invoice {invoice.number} is still a draft: validate it before recording a payment."
    if status == InvoiceStatus.VOID:
        return f"Invoice {invoice.number} is void; no payment can be recorded on it."
    if status == InvoiceStatus.PAID:
        return f"Invoice {invoice.number} is already paid in full."
    return None


def _checked_amount(amount: Decimal, invoice: Invoice, outstanding: Decimal) -> Decimal:
    try:
        check_amount(amount, "The amount", currency=invoice.currency)
    except BadValue as exc:
        raise InvalidInput(f"{exc}.") from None
    if amount <= 0:
        raise InvalidInput(f"A payment must be more than zero; {amount} is not.")
    if amount > outstanding:
        raise InvalidInput(
            f"{invoice.number} has {money_words(outstanding, invoice.currency)} outstanding; "
            f"a payment of {money_words(amount, invoice.currency)} is more than that."
        )
    return round_money(amount, invoice.currency)  # 50 → 50.00: stored and audited as the currency writes it


async def _already_recorded(session: AsyncSession, organisation_id: int, key: str) -> bool:
    query = select(Payment.id).where(Payment.organisation_id == organisation_id, Payment.idempotency_key == key)
    return (await session.execute(query)).first() is not None


async def record_payment(
    session: AsyncSession, *, organisation_id: int, rules: ApprovalRules, request: PaymentRequest
) -> PaymentRecorded:
    """Record one payment (see the module doc); the caller's unit of work commits it."""
    authorize(rules, request.actor, Action.RECORD_PAYMENT)
    invoice = await get_invoice(session, organisation_id=organisation_id, number=request.number, lock=True)
    balance = await balance_of_invoice(session, invoice)
    key = request.idempotency_key
    if key is not None and await _already_recorded(session, organisation_id, key):
        return PaymentRecorded(
            invoice.number, invoice.currency, Decimal(request.amount or 0), balance.paid, balance.outstanding,
            fully_paid=invoice.status == InvoiceStatus.PAID, created=False,
        )  # fmt: skip
    refusal = _why_no_payment(invoice)
    if refusal:
        raise IllegalTransition(refusal)
    amount = _checked_amount(
        balance.outstanding if request.amount is None else request.amount, invoice, balance.outstanding
    )
    reference = check_text(request.reference.strip()[:PAYMENT_REFERENCE_LENGTH], "reference")
    session.add(
        Payment(
            organisation_id=organisation_id, invoice_id=invoice.id, amount=amount, paid_on=request.paid_on,
            reference=reference, source=request.source, recorded_by=request.actor, idempotency_key=key,
        )
    )  # fmt: skip
    detail = {
        "number": invoice.number,
        "amount": str(amount),
        "currency": invoice.currency,
        "paid_on": request.paid_on.isoformat(),
        "reference": reference,
        "source": request.source.value,
    }
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=request.actor,
        action=PAYMENT_ACTION,
        subject_type="invoice",
        subject_id=invoice.id,
        detail=detail,
    )
    await write_owed(session, audits=[entry])
    after = balance_of(invoice.total, balance.paid + amount, balance.credited)
    fully_paid = after.outstanding <= 0
    if fully_paid:
        act = InvoiceAct(organisation_id=organisation_id, number=invoice.number, actor=request.actor, rules=rules)
        await mark_paid(session, act)
    await session.flush()
    return PaymentRecorded(invoice.number, invoice.currency, amount, after.paid, after.outstanding, fully_paid)


async def check_credit_fits(session: AsyncSession, note: Invoice) -> None:
    """Refuse (InvalidInput, so the caller's unit of work writes nothing) an issued credit note that
    credits more than the invoice it corrects still owes: it was checked at import, but payments
    and other credit notes may have come since, while it waited as a draft."""
    if note.corrects_invoice_id is None:
        return
    await session.flush()
    invoice = await session.get(Invoice, note.corrects_invoice_id)
    assert invoice is not None  # a foreign key
    balance = await balance_of_invoice(session, invoice)
    if balance.outstanding < 0:
        room = balance.outstanding + note.total
        raise InvalidInput(
            f"Credit note {note.number} credits {money_words(note.total, note.currency)} but invoice "
            f"{invoice.number} only has {money_words(max(room, Decimal(0)), invoice.currency)} outstanding; "
            "correct the credit note before validating it."
        )


async def close_credited_invoices(
    session: AsyncSession, *, organisation_id: int, invoice_ids: Iterable[int], actor: str
) -> list[str]:
    """Close (status paid, audited `invoice.paid` with `via: credit_note`) each of these invoices
    that its payments and issued credit notes now settle, as a payment that settles one does;
    returns their numbers. Called where a credit note is issued (the import, validation)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    invoices = (
        await session.execute(
            select(Invoice).where(
                Invoice.organisation_id == organisation_id,
                Invoice.id.in_(ids),
                Invoice.status.in_((InvoiceStatus.VALIDATED, InvoiceStatus.SENT)),
            )
        )
    ).scalars()
    paid, credited = await paid_amounts(session, ids), await credited_amounts(session, ids)
    closed: list[str] = []
    for invoice in invoices:
        if balance_of(invoice.total, paid.get(invoice.id), credited.get(invoice.id)).outstanding <= 0:
            await close_settled_invoice(session, invoice, actor=actor)
            closed.append(invoice.number)
    await session.flush()
    return closed


@dataclass(frozen=True)
class PaymentDraft:
    """What the *Record payment* modal opens with: the invoice and its outstanding balance."""

    number: str
    currency: str
    total: Decimal
    paid: Decimal
    outstanding: Decimal


async def payment_draft(session: AsyncSession, *, organisation_id: int, number: str) -> PaymentDraft:
    """The invoice a payment is about to be recorded on; refused at once (with the sentence
    `record_payment` would give) when it is a draft, void or already paid."""
    invoice = await get_invoice(session, organisation_id=organisation_id, number=number)
    refusal = _why_no_payment(invoice)
    if refusal:
        raise IllegalTransition(refusal)
    balance = await balance_of_invoice(session, invoice)
    total, paid, outstanding = (
        round_money(amount, invoice.currency) for amount in (balance.total, balance.paid, balance.outstanding)
    )  # as the currency writes them (PostgreSQL gives 4 places): the modal's amount field starts at "100.00"
    return PaymentDraft(invoice.number, invoice.currency, total, paid, outstanding)
