"""An invoice's moves in the send worker's group commit: Core statements on its round's sync connection.

The same moves as services.invoicing.invoices (their WHERE from its transition tables,
`origin_values`) with the same audit entries (`InvoiceMove.audit`), written in bulk: accepted
emails mark their invoices sent (`emails_accepted`, one executemany), emails that failed or
ended in doubt make an invoice they had marked sent owed again (`emails_not_received`, the
twin of `email_not_received`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from services.db.literals import literal_in
from services.db.models import Delivery, DeliveryKind, Invoice, InvoiceStatus, SentVia
from services.invoicing.invoices import EVENTS_ACTOR, NOT_RECEIVED_ACTION, InvoiceMove, origin_values
from services.invoicing.states import NOTHING_SENT
from services.unit_of_work import insert_owed_audits

_INVOICES = Invoice.__table__
_DELIVERIES = Delivery.__table__
_LATER_EMAIL = (
    select(_DELIVERIES.c.id)
    .where(
        _DELIVERIES.c.invoice_id == _INVOICES.c.id,
        _DELIVERIES.c.kind == DeliveryKind.INVOICE.value,
        _DELIVERIES.c.id > bindparam("b_delivery_id"),
        _DELIVERIES.c.status.not_in(NOTHING_SENT),
    )
    .exists()
)
_UNSEND = (
    _INVOICES.update()
    .where(
        _INVOICES.c.id == bindparam("b_invoice_id"),
        literal_in(_INVOICES.c.status, origin_values(InvoiceStatus.VALIDATED, follows_email=True)),
        _INVOICES.c.sent_via == SentVia.EMAIL.value,
        ~_LATER_EMAIL,
    )
    .values(
        status=InvoiceStatus.VALIDATED.value, sent_at=None, sent_via=None, sent_by=None, updated_at=bindparam("b_now")
    )
    .returning(_INVOICES.c.id, _INVOICES.c.organisation_id, _INVOICES.c.number)
)


def emails_not_received(connection: Connection, *, failures: Sequence[tuple[int, int, str]], now: datetime) -> None:
    """`email_not_received` for the send worker's group commit, on its round's sync connection:
    (invoice id, delivery id, why) of invoice emails that failed or ended in doubt at the SMTP
    stage. Sent → validated, with the same audit entry, when the invoice was sent by email and
    this email is its latest. Rare, so one statement each."""
    for invoice_id, delivery_id, why in failures:
        parameters = {"b_invoice_id": invoice_id, "b_delivery_id": delivery_id, "b_now": now}
        for _, organisation_id, number in connection.execute(_UNSEND, parameters).all():
            move = InvoiceMove(
                organisation_id=organisation_id, invoice_id=invoice_id, number=number, before=InvoiceStatus.SENT.value,
                target=InvoiceStatus.VALIDATED, actor=EVENTS_ACTOR, action=NOT_RECEIVED_ACTION,
                detail={"delivery_id": delivery_id, "why": why},
            )  # fmt: skip
            insert_owed_audits(connection, audits=[move.audit()], at=now)


# Sent by the worker: its email was accepted (validated → sent, by the same table as a person's move).
_MARK_EMAILED = (
    _INVOICES.update()
    .where(_INVOICES.c.id == bindparam("b_id"), literal_in(_INVOICES.c.status, origin_values(InvoiceStatus.SENT)))
    .values(
        status=InvoiceStatus.SENT.value,
        sent_at=bindparam("b_at"),
        sent_via=SentVia.EMAIL.value,
        sent_by=bindparam("b_actor"),
        updated_at=bindparam("b_at"),
    )
)


def emails_accepted(connection: Connection, *, sent: Sequence[tuple[int, str]], now: datetime) -> None:
    """The send worker's group commit marks these invoices sent by email: (invoice id, who sent
    it) of invoice emails the SMTP server accepted. One executemany for them all (its
    `status IN (…)` is literal: an expanding list cannot be executemany'd); an invoice that is not
    validated any more (paid, void, already sent) is left as it is. Not audited here: the
    delivery's own `delivery.accepted` entry says it."""
    if sent:
        connection.execute(
            _MARK_EMAILED, [{"b_id": invoice_id, "b_at": now, "b_actor": actor} for invoice_id, actor in sent]
        )
