"""Which of a reminder's invoices are still owed right now: the send worker's check, twice per send.

A reminder is produced (services/reminders/produce.py) and rendered later; meanwhile an
invoice it lists may be paid, voided, credited in full, disputed, promised or its customer
paused. The send worker asks `still_owed` when it prepares the email (to list only what is
still owed) and again in the transaction that marks the message data as started, just
before DATA, with the invoice rows locked (`lock=True`, PostgreSQL `SELECT … FOR UPDATE`).
`record_payment` locks the same invoice row before it writes a payment, so either the payment
committed first and the check sees it (the reminder is not sent), or it waits until the mark
committed, and the reminder went out while the invoice was still open (see docs/reminder-emails.md,
"Reminders and payments: who wins").

The stop rules are the planner's (`services.reminders.plan.stop_rules`), the balance is
`services.invoicing.balance`'s: nothing is decided twice. Sync, on a Connection or Session:
both the claim's transaction and the writer's round are sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, literal, null, select, union_all
from sqlalchemy.orm import Session

from services.db.models import Invoice, InvoiceStatus
from services.invoicing.balance import balance_of, select_credits, select_payments, summed_by_invoice
from services.reminders.plan import stop_rules

_PAID, _CREDITED, _OPEN = "paid", "credited", "open"  # which part of `still_owed`'s second read a row is


@dataclass(frozen=True)
class StillOwed:
    """`outstanding`: invoice id → what is still owed, for those a reminder may still list (in the
    order asked); `dropped`: invoice id → the sentence saying why it is left out."""

    outstanding: dict[int, Decimal]
    dropped: dict[int, str]

    def reason(self) -> str:
        """Why the dropped invoices are left out, one sentence each."""
        return " ".join(self.dropped.values())


def still_owed(
    db: Connection | Session,
    *,
    organisation_id: int,
    invoice_ids: Sequence[int],
    today: date,
    lock: bool = False,
) -> StillOwed:
    """Split `invoice_ids` into those still owed on `today` and those a reminder must leave out.

    `lock`: lock the invoice rows first (PostgreSQL; SQLite has one writer at a time), as
    payment recording does, so no payment commits between this check and the caller's commit.
    """
    ids = sorted(set(invoice_ids))
    if not ids:
        return StillOwed({}, {})
    facts = select(Invoice.id, Invoice.number, Invoice.status, Invoice.total).where(Invoice.id.in_(ids))
    if lock:  # SQLite leaves FOR UPDATE out: its one writer at a time does the same
        facts = facts.order_by(Invoice.id).with_for_update()
    rows = {row.id: row for row in db.execute(facts)}
    # the rest in one statement, not three (each a round trip inside the data-start mark's
    # transaction), read after the rows are locked: payments, credit notes, the open ones
    open_query = stop_rules(select(Invoice.id).where(Invoice.id.in_(ids)), organisation_id, today, date.max)
    rest = union_all(
        select_payments(ids).add_columns(literal(_PAID).label("source")),
        select_credits(ids).add_columns(literal(_CREDITED).label("source")),
        open_query.add_columns(null().label("amount"), literal(_OPEN).label("source")),
    )
    read: dict[str, list[tuple[int | None, Decimal]]] = {_PAID: [], _CREDITED: [], _OPEN: []}
    for invoice_id, amount, source in db.execute(rest):
        read[source].append((invoice_id, amount))
    paid, credited = summed_by_invoice(read[_PAID]), summed_by_invoice(read[_CREDITED])
    open_ids = {invoice_id for invoice_id, _ in read[_OPEN]}
    outstanding: dict[int, Decimal] = {}
    dropped: dict[int, str] = {}
    for invoice_id in dict.fromkeys(invoice_ids):
        row = rows.get(invoice_id)
        if row is None:
            continue  # deleted: nothing to remind of, nothing to say about it
        left = balance_of(row.total, paid.get(invoice_id), credited.get(invoice_id)).outstanding
        if row.status == InvoiceStatus.PAID or (row.status == InvoiceStatus.SENT and left <= 0):
            dropped[invoice_id] = f"{row.number} was paid before the reminder went out."
        elif row.status == InvoiceStatus.VOID:
            dropped[invoice_id] = f"{row.number} was voided before the reminder went out."
        elif invoice_id not in open_ids:
            dropped[invoice_id] = (
                f"{row.number} is held back from reminders (disputed, a promise to pay, its customer paused "
                "or its reminders turned off)."
            )
        else:
            outstanding[invoice_id] = left
    return StillOwed(outstanding, dropped)
