"""Sending many invoices at once: one delivery, one email, per ready invoice.

Each invoice gets the review modal's defaults (its recipients, the template wording in
the customer's language) and goes through `request_delivery` like a single send, so the
same rules apply: approval, suppression, no accidental resend. What cannot go is skipped
with its reasons, and the rest still go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, authorize
from services.errors import DomainError, FieldErrors, InvalidInput
from services.sending.checks import check_sending
from services.sending.context import SendContext
from services.sending.due import state_problems
from services.sending.readiness import NotReadyReason, SendingState
from services.sending.requests import DeliveryOutcome, DeliveryRequest, request_delivery
from services.sending.review import ReviewRequest, prepare_review

# The one limit of a bulk send: the confirmation lists at most this many (the rest wait for
# the next run) and the service refuses more. It bounds one submission's work (one
# transaction, one result view), which Slack answers before it starts (handlers/bulk.py).
MAX_BULK_INVOICES = 200


def check_bulk_size(invoice_numbers: Sequence[str]) -> None:
    """Refuse a bulk of more than MAX_BULK_INVOICES invoices (no database needed: checked before the ack)."""
    if len(invoice_numbers) > MAX_BULK_INVOICES:
        raise InvalidInput(f"Send at most {MAX_BULK_INVOICES} invoices at once ({len(invoice_numbers)} given).")


def _bulk_key(bulk_key: str, number: str) -> str:
    return "bulk:" + hashlib.sha256(f"{bulk_key}\n{number}".encode()).hexdigest()


@dataclass(frozen=True)
class SkippedInvoice:
    invoice_number: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BulkRequest:
    """What *Send all ready* asked for: the invoices (in order), by whom, and the submission's key."""

    invoice_numbers: Sequence[str]
    requested_by: str
    public_url: str  # base of the invoice links the default wording carries
    idempotency_key: str  # the confirmation's view id: a repeat creates nothing new


@dataclass(frozen=True)
class BulkOutcome:
    requested: tuple[DeliveryOutcome, ...]
    skipped: tuple[SkippedInvoice, ...]


async def request_bulk_delivery(
    session: AsyncSession,
    *,
    organisation_id: int,
    request: BulkRequest,
    send: SendContext,
    sending: SendingState,
) -> BulkOutcome:
    """One delivery (one email) per ready invoice, with the review's default wording.

    Invoices that are not ready, whose latest email was not received or may have arrived
    (the due listing's rule), or were sent or asked for recently, are skipped with their
    reasons. Each invoice's key derives from `idempotency_key`, so repeating the
    bulk request creates nothing new (the repeats come back with `created=False`).
    Every invoice is asked for at the same moment (`send`'s clock is read once).
    """
    now = send.clock()
    send = send.at(now)
    requested_by, public_url = request.requested_by, request.public_url
    check_bulk_size(request.invoice_numbers)
    authorize(send.rules, requested_by, Action.SEND)
    check_sending(sending)
    requested: list[DeliveryOutcome] = []
    skipped: list[SkippedInvoice] = []
    for number in dict.fromkeys(n.strip() for n in request.invoice_numbers if n.strip()):
        try:
            review = ReviewRequest(
                organisation_id=organisation_id, invoice_number=number, public_url=public_url, now=now, sending=sending
            )
            draft = await prepare_review(session, review)
            # the due listing's rule: an email not received or in doubt needs a person (one on its
            # way is left to request_delivery, which returns a repeat's own send or asks)
            email_problems = state_problems(draft.state) if draft.state else ()
            problems = (*(p for p in email_problems if p.reason != NotReadyReason.BEING_SENT), *draft.problems)
            if problems:
                skipped.append(SkippedInvoice(number, tuple(p.message for p in problems)))
                continue
            asked = DeliveryRequest(
                invoice_number=number,
                to=draft.to,
                cc=draft.cc,
                bcc=draft.bcc,  # the organisation's archive copies, as on the single review
                subject=draft.subject,
                message=draft.message,
                language=draft.language,
                attachments=draft.attachments,
                requested_by=requested_by,
                idempotency_key=_bulk_key(request.idempotency_key, number),
            )
            requested.append(
                await request_delivery(
                    session, organisation_id=organisation_id, request=asked, send=send, sending=sending
                )
            )
        except FieldErrors as exc:
            skipped.append(SkippedInvoice(number, tuple(exc.errors.values())))
        except DomainError as exc:
            skipped.append(SkippedInvoice(number, (str(exc),)))
    return BulkOutcome(requested=tuple(requested), skipped=tuple(skipped))
