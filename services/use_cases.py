"""The use cases the Slack surface calls: each one unit of work, each a plain result.

A handler parses a payload, calls one function here and renders what it returns; it
never opens a transaction or commits (tests/unit/test_transactions_in_services.py). Each
function opens one unit of work (services.unit_of_work) from `units`: it commits when the
function returns and rolls everything back when it raises, so a refusal (a DomainError)
changes nothing. Results are frozen dataclasses of plain values, never ORM rows, so
nothing is read from a closed session.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import DeliveryKind, DeliveryStatus, Invoice
from services.errors import InvalidInput
from services.invoicing.invoices import InvoiceAct, mark_paid, mark_sent_manually, validate_invoice, void_invoice
from services.invoicing.payments import (
    PaymentRecorded,
    PaymentRequest,
    check_credit_fits,
    close_credited_invoices,
    record_payment,
)
from services.invoicing.settings import SettingsForm
from services.invoicing.settings_store import change_settings, settings_to_edit
from services.reminders.ladder import (
    Step,
    ladder_words,
    parse_ladder,
    store_organisation_ladder,
    stored_organisation_ladder,
)
from services.sending.approvals import approve_delivery, check_rejection, reject_delivery
from services.sending.bulk import BulkRequest, SkippedInvoice, request_bulk_delivery
from services.sending.context import SendContext
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryOutcome, DeliveryRequest, cancel_delivery, request_delivery
from services.tracking.alert_actions import FixRequest, fix_and_resend, mark_sent_from_alert
from services.unit_of_work import UnitsOfWork


@dataclass(frozen=True)
class SendAsked:
    """What became of a send request: waiting for approval or queued; a preview first or not."""

    awaiting_approval: bool
    preview: bool
    created: bool  # False: a repeat (same idempotency key) got the first request's send back

    @classmethod
    def of(cls, outcome: DeliveryOutcome) -> SendAsked:
        return cls(
            awaiting_approval=outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL,
            preview=outcome.preview is not None,
            created=outcome.created,
        )


async def ask_for_send(
    units: UnitsOfWork, *, send: SendContext, organisation_id: int, sending: SendingState, request: DeliveryRequest
) -> SendAsked:
    """The review modal's submission: one delivery (and its approval, preview, audit, posts)."""
    async with units() as unit:
        outcome = await request_delivery(
            unit.session,
            organisation_id=organisation_id,
            request=request,
            send=send,
            sending=sending,
        )
        return SendAsked.of(outcome)


@dataclass(frozen=True)
class BulkAsked:
    """Each invoice asked for, in the order given, with its send; and those skipped, with why."""

    asked: tuple[tuple[str, SendAsked], ...]
    skipped: tuple[SkippedInvoice, ...]


async def ask_for_bulk_send(
    units: UnitsOfWork,
    *,
    send: SendContext,
    organisation_id: int,
    sending: SendingState,
    request: BulkRequest,
) -> BulkAsked:
    """*Send all ready*: one delivery per ready invoice, the rest skipped with their reasons."""
    async with units() as unit:
        outcome = await request_bulk_delivery(
            unit.session, organisation_id=organisation_id, request=request, send=send, sending=sending
        )
    skipped = {item.invoice_number for item in outcome.skipped}
    # The service asks in the order given; what it did not skip is what it requested.
    given = dict.fromkeys(n.strip() for n in request.invoice_numbers if n.strip())
    numbers = [n for n in given if n not in skipped]
    asked = tuple((number, SendAsked.of(result)) for number, result in zip(numbers, outcome.requested, strict=True))
    return BulkAsked(asked=asked, skipped=outcome.skipped)


@dataclass(frozen=True, kw_only=True)
class ApprovalAnswer:
    """An approver's *Approve*, or *Reject* with the reason they gave (required: the requester reads it)."""

    organisation_id: int
    delivery_id: int
    approver: str
    approve: bool
    reason: str | None = None


@dataclass(frozen=True)
class DecidedSend:
    """What an approval decided on: the (first) invoice number, and whether the email is a reminder."""

    number: str
    reminder: bool


async def decide_approval(units: UnitsOfWork, *, send: SendContext, answer: ApprovalAnswer) -> DecidedSend:
    """*Approve* / *Reject*: the decision (one, even when two click at once); says what was decided on."""
    where = {"organisation_id": answer.organisation_id, "delivery_id": answer.delivery_id}
    async with units() as unit:
        if answer.approve:
            result = await approve_delivery(unit.session, **where, approver=answer.approver, send=send)
        else:
            if not (answer.reason or "").strip():
                raise InvalidInput("Say why you reject this send: the person who asked reads it.")
            result = await reject_delivery(
                unit.session, **where, approver=answer.approver, send=send, reason=answer.reason
            )
        return DecidedSend(result.invoice_number, reminder=result.delivery.kind == DeliveryKind.REMINDER)


async def may_reject(
    units: UnitsOfWork, *, send: SendContext, organisation_id: int, delivery_id: int, approver: str
) -> str:
    """Before the *Reject* modal opens: the sentence why not, or the invoice number (nothing changes)."""
    async with units() as unit:
        return await check_rejection(
            unit.session, organisation_id=organisation_id, delivery_id=delivery_id, approver=approver, send=send
        )


class InvoiceChange(StrEnum):
    VALIDATE = "validate"
    MARK_SENT = "mark_sent"  # sent by other means: no email goes out
    MARK_PAID = "mark_paid"
    VOID = "void"


INVOICE_MOVES = {
    InvoiceChange.VALIDATE: validate_invoice,
    InvoiceChange.MARK_SENT: mark_sent_manually,
    InvoiceChange.MARK_PAID: mark_paid,
    InvoiceChange.VOID: void_invoice,
}


async def change_invoice(
    units: UnitsOfWork, *, rules: ApprovalRules, organisation_id: int, number: str, actor: str, change: InvoiceChange
) -> str:
    """A person's change of an invoice's state (`/invoices due` row menu, the CLI); its number.

    The invoice's transition table (services.invoicing.invoices) checks the move and writes its audit entry.
    """
    async with units() as unit:
        move = InvoiceAct(organisation_id=organisation_id, number=number, actor=actor, rules=rules)
        invoice = await INVOICE_MOVES[change](unit.session, move)
        if change == InvoiceChange.VALIDATE and invoice.corrects_invoice_id is not None:
            # an issued credit note must fit what the invoice owes, and may settle it
            await check_credit_fits(unit.session, invoice)
            await close_credited_invoices(
                unit.session, organisation_id=organisation_id, invoice_ids=[invoice.corrects_invoice_id], actor=actor
            )
        return invoice.number


async def fix_address_and_resend(
    units: UnitsOfWork, *, send: SendContext, organisation_id: int, sending: SendingState, request: FixRequest
) -> SendAsked:
    """*Fix address & resend*: save the customer's addresses and ask for the resend, together or not at all."""
    async with units() as unit:
        outcome = await fix_and_resend(
            unit.session,
            organisation_id=organisation_id,
            request=request,
            send=send,
            sending=sending,
        )
        return SendAsked.of(outcome)


async def mark_sent_after_alert(
    units: UnitsOfWork, *, send: SendContext, organisation_id: int, delivery_id: int, actor: str
) -> str:
    """*Mark as sent* under an alert: the invoice is sent manually, no email goes out; its number."""
    async with units() as unit:
        invoice = await mark_sent_from_alert(
            unit.session,
            organisation_id=organisation_id,
            delivery_id=delivery_id,
            actor=actor,
            send=send,
        )
        return invoice.number


async def organisation_settings_form(
    session: AsyncSession, *, organisation_id: int, rules: ApprovalRules, actor: str
) -> SettingsForm:
    """The settings modal's form, filled with what is stored (a read: no unit of work); NotAllowed for a
    non-admin. The reminder ladder shows the organisation's own steps, empty while the built-in default applies."""
    form = await settings_to_edit(session, organisation_id=organisation_id, rules=rules, actor=actor)
    stored = await stored_organisation_ladder(session, organisation_id=organisation_id)
    return replace(form, reminder_ladder=ladder_words(stored))


async def change_organisation_settings(
    units: UnitsOfWork, *, organisation_id: int, actor: str, change: SettingsChange
) -> dict[str, list[object]]:
    """The settings modal's submission: checked, stored, versioned and audited together (field → [old, new]).

    The reminder ladder is read by the one ladder parser; a wrong one is an error on its field with the
    others', and nothing is written. Empty: back to the built-in default ladder.
    """
    found = dict(change.found)
    ladder: tuple[Step, ...] | None = None
    text = change.form.reminder_ladder
    if text is not None:
        try:
            ladder = parse_ladder(text) if text.strip() else ()
        except InvalidInput as wrong:
            found["reminder_ladder"] = str(wrong)
    async with units() as unit:
        changes = await change_settings(
            unit,
            organisation_id=organisation_id,
            rules=change.rules,
            actor=actor,
            form=change.form,
            found=found,
        )
        if ladder is not None:
            moved = await store_organisation_ladder(unit, organisation_id=organisation_id, actor=actor, steps=ladder)
            if moved is not None:
                changes["reminder_ladder"] = [*moved]
        return changes


@dataclass(frozen=True)
class SettingsChange:
    """An admin's submitted settings: the form, the rules they act under, what Slack-side checks found."""

    form: SettingsForm
    rules: ApprovalRules
    found: dict[str, str]


async def cancel_send(
    units: UnitsOfWork, *, rules: ApprovalRules, organisation_id: int, delivery_id: int, actor: str, now: datetime
) -> str:
    """*Cancel* on a send's message: stopped unless the worker took it already (then the sentence why not)."""
    async with units() as unit:
        delivery = await cancel_delivery(
            unit.session, organisation_id=organisation_id, delivery_id=delivery_id, actor=actor, rules=rules, now=now
        )
        number = await unit.session.scalar(select(Invoice.number).where(Invoice.id == delivery.invoice_id))
        return str(number)


async def record_a_payment(
    units: UnitsOfWork, *, rules: ApprovalRules, organisation_id: int, request: PaymentRequest
) -> PaymentRecorded:
    """`/invoices paid`, the *Record payment* modal, the CLI: one payment, its audit entry and,
    when it settles the balance, the move to paid; committed together or not at all."""
    async with units() as unit:
        return await record_payment(unit.session, organisation_id=organisation_id, rules=rules, request=request)
