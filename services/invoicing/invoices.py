"""Invoice state changes and their rules: draft → validated → sent → paid, or void.

Every change is authorised first (services.authorization: senders) and writes the audit log
in the same transaction. An illegal transition raises
`IllegalTransition` with a sentence a finance person can act on. The caller commits.

A person's move is checked against `_ALLOWED_FROM`; the two moves that follow the invoice's
email (services.tracking.follow: not received after all, delivered after all) have their own
table, `_FOLLOWS_EMAIL`. Either way the status and its audit entry change together, in one
place: `_record_move` (the entry, `InvoiceMove.audit`, is written by
services.unit_of_work.write_owed) — and, for the send worker's group commit, which writes Core
statements on a sync connection, services.invoicing.emailed: the same moves and entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Delivery, DeliveryStatus, Invoice, InvoiceStatus, SentVia, utcnow
from services.email.addresses import normalise_emails
from services.email.verification import accepts_smtputf8
from services.errors import IllegalTransition, InvalidInput, NotFound
from services.tracking.alert_resolution import owe_alerts_resolved
from services.unit_of_work import AuditEntry, write_owed

UNSENT = frozenset({InvoiceStatus.DRAFT, InvoiceStatus.VALIDATED})

# target status → the statuses it may be reached from
_ALLOWED_FROM: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.VALIDATED: frozenset({InvoiceStatus.DRAFT}),
    InvoiceStatus.SENT: frozenset({InvoiceStatus.VALIDATED}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.VALIDATED, InvoiceStatus.SENT}),
    InvoiceStatus.VOID: frozenset({InvoiceStatus.DRAFT, InvoiceStatus.VALIDATED, InvoiceStatus.SENT}),
}

# The moves an invoice makes by itself, following its latest email (no person, no authorisation).
_FOLLOWS_EMAIL: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.VALIDATED: frozenset({InvoiceStatus.SENT}),  # its email was not received: owed again
    InvoiceStatus.SENT: frozenset({InvoiceStatus.VALIDATED}),  # an email in doubt was delivered after all
}
EVENTS_ACTOR = "events"  # who the audit log says moved an invoice that followed its email
NOT_RECEIVED_ACTION = "invoice.not_received"

_ACTION = {
    InvoiceStatus.VALIDATED: Action.VALIDATE,
    InvoiceStatus.SENT: Action.MARK_SENT,
    InvoiceStatus.PAID: Action.MARK_PAID,
    InvoiceStatus.VOID: Action.VOID,
}

_VERB = {
    InvoiceStatus.VALIDATED: "validated",
    InvoiceStatus.SENT: "marked as sent",
    InvoiceStatus.PAID: "marked as paid",
    InvoiceStatus.VOID: "voided",
}


def _why_not(invoice: Invoice, target: InvoiceStatus) -> str:
    number, status = invoice.number, InvoiceStatus(invoice.status)
    verb = _VERB[target]
    if status == target:
        return f"Invoice {number} is already {status.value}."
    if status == InvoiceStatus.VOID:
        return f"Invoice {number} is void and cannot be {verb}."
    if status == InvoiceStatus.PAID:
        return f"Invoice {number} is already paid and cannot be {verb}."
    if target == InvoiceStatus.SENT and status == InvoiceStatus.DRAFT:
        return f"Invoice {number} is still a draft: validate it before it is {verb}."
    if target == InvoiceStatus.VALIDATED and status == InvoiceStatus.SENT:
        return f"Invoice {number} was already sent; a sent invoice cannot be validated again."
    if target == InvoiceStatus.PAID and status == InvoiceStatus.DRAFT:
        return f"Invoice {number} is still a draft: validate it before it is {verb}."
    return f"Invoice {number} is {status.value} and cannot be {verb}."


def check_transition(invoice: Invoice, target: InvoiceStatus) -> None:
    """Raise IllegalTransition unless `invoice` may move to `target` now."""
    if InvoiceStatus(invoice.status) not in _ALLOWED_FROM[target]:
        raise IllegalTransition(_why_not(invoice, target))


async def get_invoice(
    session: AsyncSession, *, organisation_id: int, number: str, with_lines: bool = False, lock: bool = False
) -> Invoice:
    """The invoice with this number in this organisation, with its customer; NotFound otherwise."""
    query = (
        select(Invoice)
        .where(Invoice.organisation_id == organisation_id, Invoice.number == number.strip())
        .options(selectinload(Invoice.customer))
    )
    if with_lines:
        query = query.options(selectinload(Invoice.lines))
    if lock:
        query = query.with_for_update()
    invoice = (await session.execute(query)).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"There is no invoice {number.strip()!r}.")
    return invoice


@dataclass(frozen=True, kw_only=True)
class InvoiceAct:
    """Who acts on which invoice, under which rules, and when (None: now): a status move (its
    target is the function's) or a link revocation (services.tracking.links)."""

    organisation_id: int
    number: str
    actor: str
    rules: ApprovalRules
    at: datetime | None = None


async def _move(
    session: AsyncSession, move: InvoiceAct, target: InvoiceStatus, *, detail: dict[str, str] | None = None
) -> Invoice:
    organisation_id, actor = move.organisation_id, move.actor
    authorize(move.rules, actor, _ACTION[target])
    invoice = await get_invoice(session, organisation_id=organisation_id, number=move.number, lock=True)
    check_transition(invoice, target)
    now = move.at or utcnow()
    await _record_move(session, invoice, target, actor=actor, detail=detail)
    if target == InvoiceStatus.VALIDATED:
        invoice.validated_at = now
    elif target == InvoiceStatus.PAID:
        invoice.paid_at = now
    elif target == InvoiceStatus.VOID:
        invoice.voided_at = now
    if target != InvoiceStatus.VALIDATED:  # sent by hand, paid or void: its open delivery alerts are over
        await owe_alerts_resolved(session, organisation_id=organisation_id, invoice_id=invoice.id, now=now)
    await session.flush()
    return invoice


@dataclass(frozen=True, kw_only=True)
class InvoiceMove:
    """An invoice moved from `before` to `target`: what its audit entry says, wherever the move is
    written (`_record_move` on the ORM, the send worker's Core statements below)."""

    organisation_id: int
    invoice_id: int
    number: str
    before: str
    target: InvoiceStatus
    actor: str
    action: str | None = None  # default `invoice.<target>`
    detail: dict[str, Any] = field(default_factory=dict)

    def audit(self) -> AuditEntry:
        """The move's one audit entry: `invoice.<status>` (or `action`), with the number and where it came from."""
        return AuditEntry(
            organisation_id=self.organisation_id,
            actor=self.actor,
            action=self.action or f"invoice.{self.target.value}",
            subject_type="invoice",
            subject_id=self.invoice_id,
            detail={"number": self.number, "from": str(self.before), **self.detail},
        )


async def _record_move(
    session: AsyncSession,
    invoice: Invoice,
    target: InvoiceStatus,
    *,
    actor: str,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The one place an invoice's status changes, and with it its audit entry (`invoice.<status>`
    unless `action` names it otherwise); the caller has checked the move against its table."""
    move = InvoiceMove(
        organisation_id=invoice.organisation_id, invoice_id=invoice.id, number=invoice.number,
        before=invoice.status, target=target, actor=actor, action=action, detail=detail or {},
    )  # fmt: skip
    invoice.status = target
    await write_owed(session, audits=[move.audit()])


def origin_values(target: InvoiceStatus, *, follows_email: bool = False) -> list[str]:
    """The statuses an invoice may reach `target` from, as sorted column values: by a person's move
    (`_ALLOWED_FROM`), or by one that follows its email (`_FOLLOWS_EMAIL`). The WHERE of a Core move."""
    table = _FOLLOWS_EMAIL if follows_email else _ALLOWED_FROM
    return sorted(origin.value for origin in table[target])


def _check_follow(invoice: Invoice, target: InvoiceStatus) -> None:
    if InvoiceStatus(invoice.status) not in _FOLLOWS_EMAIL[target]:
        raise IllegalTransition(_why_not(invoice, target))


async def email_not_received(
    session: AsyncSession, invoice: Invoice, *, delivery_id: int, why: str, now: datetime
) -> None:
    """Sent → validated: its latest email was not received, so the invoice is owed again and
    `/invoices due` lists it with `why` (audited `invoice.not_received`). The caller locked it."""
    _check_follow(invoice, InvoiceStatus.VALIDATED)
    await _record_move(
        session,
        invoice,
        InvoiceStatus.VALIDATED,
        actor=EVENTS_ACTOR,
        action=NOT_RECEIVED_ACTION,
        detail={"delivery_id": delivery_id, "why": why},
    )
    invoice.sent_at = None
    invoice.sent_via = None
    invoice.sent_by = None
    invoice.updated_at = now


async def email_received_after_all(
    session: AsyncSession, invoice: Invoice, *, delivery: Delivery, now: datetime
) -> None:
    """Validated → sent: an email in doubt (`unknown`) was reported delivered or opened. The caller locked it."""
    _check_follow(invoice, InvoiceStatus.SENT)
    detail = {"via": SentVia.EMAIL.value, "delivery_id": delivery.id, "after": DeliveryStatus.UNKNOWN.value}
    await _record_move(session, invoice, InvoiceStatus.SENT, actor=EVENTS_ACTOR, detail=detail)
    invoice.sent_at = delivery.finished_at or now
    invoice.sent_via = SentVia.EMAIL
    invoice.sent_by = delivery.approved_by or delivery.requested_by
    invoice.updated_at = now


async def validate_invoice(session: AsyncSession, move: InvoiceAct) -> Invoice:
    return await _move(session, move, InvoiceStatus.VALIDATED)


async def mark_sent_manually(session: AsyncSession, move: InvoiceAct, *, note: str | None = None) -> Invoice:
    """For invoices sent by other means: status sent, no email, reminders skip it."""
    detail = {"via": SentVia.MANUAL.value, **({"note": note} if note else {})}
    invoice = await _move(session, move, InvoiceStatus.SENT, detail=detail)
    invoice.sent_at = move.at or utcnow()
    invoice.sent_via = SentVia.MANUAL
    invoice.sent_by = move.actor
    await session.flush()
    return invoice


async def void_invoice(session: AsyncSession, move: InvoiceAct) -> Invoice:
    return await _move(session, move, InvoiceStatus.VOID)


async def mark_paid(session: AsyncSession, move: InvoiceAct) -> Invoice:
    return await _move(session, move, InvoiceStatus.PAID)


async def close_settled_invoice(session: AsyncSession, invoice: Invoice, *, actor: str) -> None:
    """Validated or sent → paid because credit notes settle its balance (no person moves it, so no
    authorisation here: whoever issued the credit note was authorised for that)."""
    check_transition(invoice, InvoiceStatus.PAID)
    await _record_move(session, invoice, InvoiceStatus.PAID, actor=actor, detail={"via": "credit_note"})
    now = utcnow()
    invoice.paid_at = now
    await owe_alerts_resolved(session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, now=now)


def recipients_of(invoice: Invoice) -> list[str]:
    """The To list: the invoice's own recipients if set, else the customer's emails."""
    if invoice.recipient_emails is not None:
        return list(invoice.recipient_emails)
    return list(invoice.customer.emails)


async def set_invoice_recipients(
    session: AsyncSession,
    *,
    organisation_id: int,
    number: str,
    emails: Iterable[str],
    actor: str,
    rules: ApprovalRules,
) -> Invoice:
    """Change who receives this invoice (senders; see services.authorization). Allowed only while it is unsent."""
    authorize(rules, actor, Action.FIX_ADDRESS)
    invoice = await get_invoice(session, organisation_id=organisation_id, number=number, lock=True)
    if invoice.status not in UNSENT:
        raise IllegalTransition(
            f"Invoice {invoice.number} is {invoice.status}; its recipients can only be changed before it is sent."
        )
    addresses = normalise_emails(emails, smtputf8=await accepts_smtputf8(session, organisation_id=organisation_id))
    if not addresses:
        raise InvalidInput("Give at least one recipient email address.")
    before = recipients_of(invoice)
    invoice.recipient_emails = addresses
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="invoice.recipients_changed",
        subject_type="invoice",
        subject_id=invoice.id,
        detail={"number": invoice.number, "before": ", ".join(before), "after": ", ".join(addresses)},
    )
    await write_owed(session, audits=[entry])
    await session.flush()
    return invoice
