"""Customers' email addresses, and the customer behind a send that went wrong.

After a bounce or a refused recipient, the person fixing it needs the customer's current
addresses, which of them failed and why, and what the failed email said, so the resend
carries the same subject, message and attachments to the corrected addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Customer, Delivery, DeliveryEvent, Invoice
from services.email.addresses import normalise_emails
from services.email.verification import accepts_smtputf8
from services.errors import FieldErrors, InvalidInput, NotFound
from services.unit_of_work import AuditEntry, write_owed

MAX_CUSTOMER_EMAILS = 20
FAILED_EVENT_TYPES = ("bounced", "failed", "dropped", "complained")


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    why: str  # the server's reply or the provider's diagnostic, as received
    kind: str = "failed"  # the event type: bounced, failed, dropped, complained
    # The plain-words reason the alert carried, when the event had one (event filing writes it
    # with services.tracking.precedence.reason_in_words), so the Fix modal says the same.
    reason: str | None = None


@dataclass(frozen=True)
class FailedSend:
    """A send and its customer, as the *Fix address & resend* modal needs them."""

    delivery_id: int
    status: str
    invoice_number: str
    customer_id: int
    customer_name: str
    customer_emails: tuple[str, ...]
    failed: tuple[FailedRecipient, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    message: str
    language: str
    attachments: str
    show_notes: bool = True


async def failed_send(session: AsyncSession, *, organisation_id: int, delivery_id: int) -> FailedSend:
    """The send `delivery_id` with its customer's addresses and the recipients that failed."""
    row = (
        await session.execute(
            select(Delivery, Invoice.number, Customer)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Delivery.id == delivery_id, Delivery.organisation_id == organisation_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("There is no such send: it may belong to another workspace or have been removed.")
    delivery, number, customer = row
    failed: dict[str, FailedRecipient] = {}
    for address, result in (delivery.recipient_results or {}).items():
        if isinstance(result, dict) and result.get("status") in FAILED_EVENT_TYPES:
            failed[address] = FailedRecipient(address, str(result.get("reply") or ""), str(result["status"]))
    events = await session.execute(
        select(DeliveryEvent.recipient, DeliveryEvent.type, DeliveryEvent.detail)
        .where(DeliveryEvent.delivery_id == delivery.id, DeliveryEvent.type.in_(FAILED_EVENT_TYPES))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
    )
    for recipient, event_type, detail in events.all():
        if recipient:
            detail = detail or {}
            before = failed.get(recipient)
            why = str(detail.get("diagnostic") or detail.get("reply") or (before.why if before else ""))
            reason = detail.get("reason")
            failed[recipient] = FailedRecipient(recipient, why, event_type, str(reason) if reason else None)
    if not failed and delivery.status == "failed":
        # Refused as a whole (e.g. every recipient got a 5xx): every address failed.
        failed = {address: FailedRecipient(address, delivery.last_error or "") for address in delivery.to}
    return FailedSend(
        delivery_id=delivery.id,
        status=delivery.status,
        invoice_number=number,
        customer_id=customer.id,
        customer_name=customer.name,
        customer_emails=tuple(customer.emails),
        failed=tuple(failed.values()),
        to=tuple(delivery.to),
        cc=tuple(delivery.cc),
        bcc=tuple(delivery.bcc),
        subject=delivery.subject,
        message=delivery.body_text,
        language=delivery.language,
        attachments=delivery.attachments,
        show_notes=delivery.show_notes,
    )


async def replace_customer_emails(
    session: AsyncSession,
    *,
    organisation_id: int,
    customer_id: int,
    emails: Iterable[str],
    actor: str,
    rules: ApprovalRules,
) -> Customer:
    """Set the customer's invoice addresses (validated, duplicates dropped). The caller commits.

    Raises FieldErrors keyed "emails" with one sentence naming each bad address, so the
    form that submitted them can show it inline and keep what was typed.
    """
    authorize(rules, actor, Action.FIX_ADDRESS)
    typed = [address.strip() for address in emails if address.strip()]
    smtputf8 = await accepts_smtputf8(session, organisation_id=organisation_id)
    problems: list[str] = []
    for address in typed:
        try:
            normalise_emails([address], smtputf8=smtputf8)
        except InvalidInput as error:
            problems.append(str(error))
    if problems:
        raise FieldErrors({"emails": "; ".join(problems)})
    if not typed:
        raise FieldErrors({"emails": "Give at least one email address for the customer."})
    addresses = normalise_emails(typed, smtputf8=smtputf8)
    if len(addresses) > MAX_CUSTOMER_EMAILS:
        raise FieldErrors({"emails": f"A customer can have at most {MAX_CUSTOMER_EMAILS} email addresses."})
    customer = (
        await session.execute(
            select(Customer)
            .where(Customer.id == customer_id, Customer.organisation_id == organisation_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if customer is None:
        raise NotFound("There is no such customer.")
    before = list(customer.emails)
    if before != addresses:
        customer.emails = addresses
        entry = AuditEntry(
            organisation_id=organisation_id,
            actor=actor,
            action="customer.emails_changed",
            subject_type="customer",
            subject_id=customer.id,
            detail={"ref": customer.ref, "before": ", ".join(before), "after": ", ".join(addresses)},
        )
        await write_owed(session, audits=[entry])
    await session.flush()
    return customer
