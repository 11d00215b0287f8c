"""The import's rule for credit notes: each corrects an issued invoice of the same customer and
currency, and no more than that invoice still owes.

Judged against the database before anything is written (so a refusal imports nothing): the
invoice's outstanding balance (services.invoicing.payments.balance_of) less the credit notes of
the same file that correct it, in file order. A credit note already stored and imported again is
not counted twice: its stored amount is left out of the balance it is judged against.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, DocumentKind, Invoice, InvoiceStatus
from services.importing.limits import Problem
from services.importing.records import InvoiceRecord
from services.invoicing.balance import balance_of, crediting_note_filter, money_words, paid_amounts

CREDITABLE = (InvoiceStatus.VALIDATED, InvoiceStatus.SENT, InvoiceStatus.PAID)


async def check_credit_notes(
    session: AsyncSession, *, organisation_id: int, records: Sequence[InvoiceRecord], problems: list[Problem]
) -> dict[str, int]:
    """credit note number → the id of the invoice it corrects, for the file's credit notes; each
    refusal is appended to `problems` as a sentence naming the line."""
    notes = [record for record in records if record.kind == DocumentKind.CREDIT_NOTE and record.corrects]
    if not notes:
        return {}
    wanted = sorted({note.corrects for note in notes if note.corrects})
    rows = await session.execute(
        select(Invoice.id, Invoice.number, Invoice.kind, Invoice.status, Invoice.currency, Invoice.total, Customer.ref)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(Invoice.organisation_id == organisation_id, Invoice.number.in_(wanted))
    )
    targets = {row.number: row for row in rows}
    ids = [row.id for row in targets.values()]
    paid = await paid_amounts(session, ids)
    in_file = {note.number for note in notes}
    credited: dict[int, Decimal] = {}
    if ids:
        stored_notes = await session.execute(
            select(Invoice.corrects_invoice_id, Invoice.total).where(
                Invoice.corrects_invoice_id.in_(ids), crediting_note_filter(), Invoice.number.not_in(sorted(in_file))
            )
        )
        for invoice_id, amount in stored_notes:
            if invoice_id is None:
                continue
            credited[invoice_id] = credited.get(invoice_id, Decimal(0)) + amount
    found: dict[str, int] = {}
    for note in notes:
        target = targets.get(note.corrects or "")
        why = _why_refused(note, target)
        if why is None and target is not None:
            balance = balance_of(target.total, paid.get(target.id), credited.get(target.id))
            amount = note.totals.total if note.totals is not None else note.stated_total
            if amount > balance.outstanding:
                why = (
                    f"credit note {note.number} of {money_words(amount, note.currency)} is more than the "
                    f"{money_words(balance.outstanding, note.currency)} invoice {target.number} still has outstanding"
                )
            else:
                credited[target.id] = credited.get(target.id, Decimal(0)) + amount
                found[note.number] = target.id
        if why is not None:
            problems.append(Problem(note.line, why))
    return found


def _why_refused(note: InvoiceRecord, target: Any) -> str | None:
    """Why `note` cannot correct `target` (a stored invoice row, None when there is none)."""
    if target is None:
        return f"credit note {note.number} corrects invoice {note.corrects}, which does not exist"
    if target.kind == DocumentKind.CREDIT_NOTE:
        return f"credit note {note.number} corrects {note.corrects}, which is itself a credit note"
    if target.ref != note.customer.ref:
        return f"credit note {note.number} is for customer {note.customer.ref} but invoice {note.corrects} is not"
    if target.currency != note.currency:
        return f"credit note {note.number} is in {note.currency} but invoice {note.corrects} is in {target.currency}"
    if InvoiceStatus(target.status) not in CREDITABLE:
        return (
            f"credit note {note.number} corrects invoice {note.corrects}, which is {target.status}; "
            "only an issued invoice can be credited"
        )
    return None
