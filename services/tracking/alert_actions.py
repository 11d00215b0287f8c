"""What the buttons under a delivery alert do: fix the address and resend, or mark as sent by hand.

Both act only on a delivery that is still its invoice's open problem (services.tracking.alert_resolution):
a stale button — the problem was resolved by someone else, or the email was delivered
after all — is refused with who resolved it and when, and changes nothing.

The resend goes through `request_delivery` like a send from the review modal, so the same
rules ask the same questions: a suppressed recipient needs the override, and an email that
was sent recently or may have arrived (`unknown`) needs "send again anyway". Neither commits:
each runs in the unit of work of its use case (services.use_cases), which commits what
it changed, or rolls back when it raises and leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, authorize
from services.db.models import Attachments, Delivery, DeliveryKind, Invoice
from services.errors import IllegalTransition
from services.formatting import format_moment
from services.invoicing.customers import FailedSend, failed_send, replace_customer_emails
from services.invoicing.invoices import InvoiceAct, mark_sent_manually
from services.invoicing.organisations import team_locale
from services.sending.checks import stored_key
from services.sending.context import SendContext
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryOutcome, DeliveryRequest, request_delivery
from services.sending.review import SuppressedAddress, recent_send, suppressed_among
from services.tracking.alert_resolution import delivery_and_invoice, has_problem, resolution_of


class AlreadyResolved(IllegalTransition):
    """The alert's problem is over: someone resolved it, or the email arrived after all."""


async def _check_still_open(session: AsyncSession, delivery: Delivery, invoice: Invoice) -> None:
    if delivery.kind == DeliveryKind.REMINDER:  # its alert offers neither: resending it would send the invoice
        raise IllegalTransition(
            f"This was a payment reminder, not the email of {invoice.number}: it is not resent and does not "
            "mark the invoice sent. Correct the customer's address; the next reminder goes to it."
        )
    if not has_problem(delivery):
        raise AlreadyResolved(
            f"The email of {invoice.number} was {delivery.status.replace('_', ' ')}: there is nothing to fix."
        )
    resolution = await resolution_of(session, delivery, invoice)
    if resolution is not None:
        who = f" by <@{resolution.by}>" if resolution.by else ""
        locale = await team_locale(session, organisation_id=invoice.organisation_id)
        raise AlreadyResolved(
            f"This alert about {invoice.number} was already resolved{who} at"
            f" {format_moment(resolution.at, locale)}: {resolution.how}."
        )


@dataclass(frozen=True)
class FixDraft:
    """What the *Fix address & resend* modal shows: the failed send, its To and Cc, and its questions."""

    send: FailedSend
    cc: tuple[str, ...]
    suppressed: tuple[SuppressedAddress, ...]  # of the customer's addresses and the Cc
    recent: str | None  # the review modal's "sent recently?" question, when it would ask one


async def prepare_fix(session: AsyncSession, *, organisation_id: int, delivery_id: int, now: datetime) -> FixDraft:
    """The modal's content, or AlreadyResolved when the alert is stale. Reads only."""
    delivery, invoice = await delivery_and_invoice(session, delivery_id=delivery_id, organisation_id=organisation_id)
    await _check_still_open(session, delivery, invoice)
    send = await failed_send(session, organisation_id=organisation_id, delivery_id=delivery_id)
    suppressed = await suppressed_among(
        session, organisation_id=organisation_id, emails=[*send.customer_emails, *send.cc]
    )
    recent = await recent_send(session, invoice=invoice, now=now)
    return FixDraft(
        send=send,
        cc=send.cc,
        suppressed=suppressed,
        recent=recent.question(invoice.number, now) if recent else None,
    )


@dataclass(frozen=True)
class FixRequest:
    """What the person submitted: the customer's corrected addresses, the Cc as edited, the answers."""

    delivery_id: int
    to: tuple[str, ...]
    cc: tuple[str, ...]
    requested_by: str
    override_suppression: bool = False
    confirm_resend: bool = False
    idempotency_key: str | None = None  # the modal's view id: a double submit creates one send


async def fix_and_resend(
    session: AsyncSession,
    *,
    organisation_id: int,
    request: FixRequest,
    send: SendContext,
    sending: SendingState,
) -> DeliveryOutcome:
    """Save the customer's addresses and ask for the resend (same subject, message, attachments).

    Raises FieldErrors ("emails" for the customer's addresses; "to", "cc",
    "override_suppression" from the send checks), ResendNeedsConfirmation, AlreadyResolved
    or NotAllowed; nothing is saved when it raises.
    """
    rules = send.rules
    authorize(rules, request.requested_by, Action.FIX_ADDRESS)
    key = stored_key(request.idempotency_key)
    repeated = key is not None and await session.scalar(select(Delivery.id).where(Delivery.idempotency_key == key))
    if not repeated:  # a repeat of a submission that succeeded gets its send back, not "already resolved"
        delivery, invoice = await delivery_and_invoice(
            session, delivery_id=request.delivery_id, organisation_id=organisation_id
        )
        await _check_still_open(session, delivery, invoice)
    failed = await failed_send(session, organisation_id=organisation_id, delivery_id=request.delivery_id)
    customer = await replace_customer_emails(
        session, organisation_id=organisation_id, customer_id=failed.customer_id, emails=request.to,
        actor=request.requested_by, rules=rules,
    )  # fmt: skip
    outcome = await request_delivery(
        session,
        organisation_id=organisation_id,
        request=DeliveryRequest(
            invoice_number=failed.invoice_number,
            to=tuple(customer.emails),
            cc=request.cc,
            bcc=failed.bcc,
            subject=failed.subject,
            message=failed.message,
            language=failed.language,
            attachments=Attachments(failed.attachments),
            show_notes=failed.show_notes,
            requested_by=request.requested_by,
            override_suppression=request.override_suppression,
            idempotency_key=request.idempotency_key,
            confirm_resend=request.confirm_resend,
            extra_files_of=request.delivery_id,  # the resend carries the same extra files, byte for byte
        ),
        send=send,
        sending=sending,
    )
    return outcome


async def mark_sent_from_alert(
    session: AsyncSession, *, organisation_id: int, delivery_id: int, actor: str, send: SendContext
) -> Invoice:
    """The invoice was sent by other means: it becomes sent manually (audited), no email goes out."""
    rules, now = send.rules, send.clock()
    authorize(rules, actor, Action.MARK_SENT)
    delivery, invoice = await delivery_and_invoice(session, delivery_id=delivery_id, organisation_id=organisation_id)
    await _check_still_open(session, delivery, invoice)
    marked = await mark_sent_manually(
        session,
        InvoiceAct(organisation_id=organisation_id, number=invoice.number, actor=actor, rules=rules, at=now),
        note=f"after send {delivery_id} was {delivery.status}",
    )
    return marked
