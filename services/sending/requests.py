"""Asking for a send: a delivery row (the send job), its approval and its preview.

`request_delivery` validates what the review modal submitted, refuses a send nobody
meant (NeedsConfirmation when the invoice is being or was just sent), and writes, in the
caller's transaction, the delivery, its approval request when the rules ask for one, and
what the move owes (its audit entry and Slack posts, services.sending.transitions). The caller commits.

Never twice: a request carrying an idempotency key already seen returns the delivery it
created (`created=False`). The insert is `INSERT … ON CONFLICT (idempotency_key) DO
NOTHING`, so two concurrent requests with one key yield one row on SQLite and PostgreSQL.
On PostgreSQL the invoice row is locked first, so two requests for one invoice queue up
and the second sees the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Approval, Attachments, Delivery, DeliveryKind, DeliveryStatus, Invoice
from services.errors import (
    IllegalTransition,
    NeedsConfirmation,
    NotAllowed,
    NotFound,
)
from services.invoicing.invoices import get_invoice
from services.sending.checks import (
    DeliveryRequest,
    check_invoice,
    check_request,
    check_sending,
    new_message_id,
    new_verp_token,
    stored_key,
    verp_token_is_genuine,
)
from services.sending.context import SendContext
from services.sending.extra_files import check_extra_files
from services.sending.extra_store import extra_files_of, store_extra_files
from services.sending.readiness import SendingState
from services.sending.review import RecentSend, recent_send
from services.sending.risk import recipient_risk
from services.sending.transitions import DeliveryMove, delivery_moved, origin_values
from services.tracking.status import (
    DeliveryStatusView,
    DeliverySummary,
    delivery_status_view,
    list_problem_deliveries,
    list_recent_deliveries,
)
from services.unit_of_work import write_owed

__all__ = [
    "DeliveryOutcome",
    "DeliveryRequest",
    "DeliveryStatusView",
    "DeliverySummary",
    "ResendNeedsConfirmation",
    "cancel_delivery",
    "delivery_status_view",
    "insert_delivery",
    "list_problem_deliveries",
    "list_recent_deliveries",
    "record_request",
    "request_delivery",
    "verp_token_is_genuine",
]


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery: Delivery
    approval: Approval | None
    preview: Delivery | None
    created: bool


class ResendNeedsConfirmation(NeedsConfirmation):
    """The invoice is being sent or was sent recently; `recent` says by whom and when."""

    def __init__(self, message: str, recent: RecentSend) -> None:
        self.recent = recent
        super().__init__(message)


async def _by_key(session: AsyncSession, organisation_id: int, key: str | None) -> DeliveryOutcome | None:
    if key is None:
        return None
    found = (
        await session.execute(
            select(Delivery)
            .where(Delivery.idempotency_key == key, Delivery.organisation_id == organisation_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if found is None:
        return None
    approval = (await session.execute(select(Approval).where(Approval.delivery_id == found.id))).scalar_one_or_none()
    preview = (
        await session.execute(select(Delivery).where(Delivery.idempotency_key == stored_key(f"{key}:preview")))
    ).scalar_one_or_none()
    return DeliveryOutcome(delivery=found, approval=approval, preview=preview, created=False)


async def insert_delivery(session: AsyncSession, values: dict[str, Any]) -> Delivery | None:
    """Insert a delivery; None when its idempotency key (or, for a reminder's, its reminder) is already taken.

    A reminder's delivery is unique by key and by `reminder_id`: its conflict has no single target, so
    any unique conflict writes nothing (a twin's random Message-ID or VERP token never collides)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    target = None if values.get("reminder_id") is not None else ["idempotency_key"]
    statement = insert(Delivery).values(**values).on_conflict_do_nothing(index_elements=target).returning(Delivery.id)
    new_id = (await session.execute(statement)).scalar_one_or_none()
    return None if new_id is None else await session.get(Delivery, new_id)


def _row(
    *, organisation_id: int, invoice: Invoice, request: DeliveryRequest, now: datetime, ids: tuple[str, str]
) -> dict[str, Any]:
    """The columns a delivery and its preview share; `ids` is (Message-ID, VERP token)."""
    return {
        "organisation_id": organisation_id,
        "invoice_id": invoice.id,
        "language": request.language,
        "attachments": Attachments(request.attachments).value,
        "message_id": ids[0],
        "verp_token": ids[1],
        "requested_by": request.requested_by,
        "override_suppression": request.override_suppression,
        "show_notes": request.show_notes,
        "created_at": now,
        "updated_at": now,
    }


# C901 waived: the order of the checks is the rule (key, lock, key again, invoice, sending, approvers, resend).
async def request_delivery(  # noqa: C901
    session: AsyncSession,
    *,
    organisation_id: int,
    request: DeliveryRequest,
    send: SendContext,
    sending: SendingState,
) -> DeliveryOutcome:
    """Create the send of one invoice (and its preview), queued or waiting for approval.

    Raises FieldErrors (field → sentence) for bad input, NotAllowed, IllegalTransition
    (draft/void/paid invoice, sending not ready), ResendNeedsConfirmation (in flight or
    sent in the last 24 h, unless `confirm_resend`). Nothing is written when it raises.
    `send.clock` is read once: the delivery, its preview, approval and posts share one moment.
    """
    rules, now = send.rules, send.clock()
    authorize(rules, request.requested_by, Action.SEND)
    key = stored_key(request.idempotency_key)
    if (existing := await _by_key(session, organisation_id, key)) is not None:
        return existing
    invoice = await get_invoice(session, organisation_id=organisation_id, number=request.invoice_number, lock=True)
    # The lock above may have waited for a concurrent request with the same key.
    if (existing := await _by_key(session, organisation_id, key)) is not None:
        return existing
    check_invoice(invoice)
    check_sending(sending)
    checked = await check_request(session, organisation_id=organisation_id, request=request)
    extras = check_extra_files(request.extra_files)
    if request.extra_files_of is not None:  # a resend: the very bytes the earlier email carried
        extras += await extra_files_of(session, organisation_id=organisation_id, delivery_id=request.extra_files_of)
    risk = (
        await recipient_risk(
            session, organisation_id=organisation_id, customer=invoice.customer, recipients=[*checked.to, *checked.cc]
        )
        if rules.new_recipients
        else None
    )
    needs_approval = rules.needs_approval(invoice.total) or risk is not None
    if needs_approval and not rules.approvers_for(request.requested_by):
        raise NotAllowed(
            f"Sending {invoice.number} needs an approval, but nobody other than you can approve: ask an admin."
        )
    if not request.confirm_resend:
        recent = await recent_send(session, invoice=invoice, now=now)
        if recent is not None:
            # SQLite has no row lock: the recent send may be a twin with our key that
            # committed after the look-up above; then it is our answer, not a question.
            if (existing := await _by_key(session, organisation_id, key)) is not None:
                return existing
            raise ResendNeedsConfirmation(recent.question(invoice.number, now), recent)

    def row(**columns: Any) -> dict[str, Any]:
        ids = (new_message_id(invoice.number, send.message_id_domain), new_verp_token(send.verp_secret()))
        shared = _row(organisation_id=organisation_id, invoice=invoice, request=request, now=now, ids=ids)
        return shared | {"subject": checked.subject, "body_text": checked.message} | columns

    preview = None
    if checked.preview_to is not None:
        preview_key = stored_key(f"{key}:preview") if key else None
        preview = await insert_delivery(
            session,
            row(kind=DeliveryKind.PREVIEW.value, status=DeliveryStatus.QUEUED.value, to=[checked.preview_to],
                cc=[], bcc=[], next_attempt_at=now, idempotency_key=preview_key),
        )  # fmt: skip
        if preview is None:  # a concurrent twin got there first (SQLite: no row lock above)
            return await _by_key(session, organisation_id, key) or _lost_race(invoice.number)
    status = DeliveryStatus.AWAITING_APPROVAL if needs_approval else DeliveryStatus.QUEUED
    delivery = await insert_delivery(
        session,
        row(kind=DeliveryKind.INVOICE.value, status=status.value, to=checked.to, cc=checked.cc, bcc=checked.bcc,
            next_attempt_at=now if status == DeliveryStatus.QUEUED else None, idempotency_key=key),
    )  # fmt: skip
    if delivery is None:
        return await _by_key(session, organisation_id, key) or _lost_race(invoice.number)
    await store_extra_files(session, delivery_ids=[delivery.id, *([preview.id] if preview else [])], files=extras)

    detail = {
        "number": invoice.number,
        "to": ", ".join(checked.to),
        "status": status.value,
        **({"override_suppression": ", ".join(checked.suppressed)} if checked.suppressed else {}),
        **({"preview_delivery_id": preview.id} if preview else {}),
        **({"resend_confirmed": True} if request.confirm_resend else {}),
        **({"approval_reason": risk} if risk else {}),
        **({"extra_files": ", ".join(f.filename for f in extras)} if extras else {}),
    }
    approval = await record_request(session, delivery=delivery, invoice_number=invoice.number, detail=detail, now=now)
    return DeliveryOutcome(delivery=delivery, approval=approval, preview=preview, created=True)


async def record_request(
    session: AsyncSession, *, delivery: Delivery, invoice_number: str, detail: dict[str, Any], now: datetime
) -> Approval | None:
    """What a new delivery owes, in the caller's transaction: its approval row when it waits for one,
    its audit entry, its status message and the approval request post (services.sending.transitions)."""
    status = DeliveryStatus(delivery.status)
    approval = None
    if status == DeliveryStatus.AWAITING_APPROVAL:
        approval = Approval(
            organisation_id=delivery.organisation_id,
            delivery_id=delivery.id,
            requested_by=delivery.requested_by,
            created_at=now,
        )
        session.add(approval)
        await session.flush()
    owed = delivery_moved(
        DeliveryMove(
            organisation_id=delivery.organisation_id, delivery_id=delivery.id, invoice_number=invoice_number,
            actor=delivery.requested_by, action="requested", before=None, after=status, detail=detail,
            requested_by=delivery.requested_by, at=now,
        )
    )  # fmt: skip
    await write_owed(session, audits=owed.audits, posts=owed.posts)
    await session.flush()
    return approval


def _lost_race(number: str) -> NoReturn:
    raise NeedsConfirmation(f"{number} was just asked for by someone else at the same moment — send again?")


# awaiting approval, deferred, queued: the table's, less `sending` — only the worker cancels a send in
# flight (a reminder whose invoices were all paid meanwhile, services.sending.reminder_job), never a person
CANCELLABLE_VALUES = sorted(set(origin_values(DeliveryStatus.CANCELLED)) - {DeliveryStatus.SENDING.value})


async def cancel_delivery(
    session: AsyncSession,
    *,
    organisation_id: int,
    delivery_id: int,
    actor: str,
    rules: ApprovalRules,
    now: datetime,
) -> Delivery:
    """Stop a send that has not started: queued, deferred or waiting for approval.

    Its requester, an approver or an admin may cancel. The change is one conditional
    UPDATE, so a worker that claimed the delivery a moment earlier wins and the person
    is told it is already being sent. The caller commits.
    """
    row = (
        await session.execute(
            select(Delivery, Invoice.number)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .where(Delivery.id == delivery_id, Delivery.organisation_id == organisation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("There is no such send.")
    delivery, number = row
    authorize(rules, actor, Action.CANCEL, requested_by=delivery.requested_by)
    previous = delivery.status
    stopped = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.in_(CANCELLABLE_VALUES),
            # `deferred` after the server accepted it (a soft bounce reported later) is not ours to stop
            Delivery.smtp_reply.is_(None),
        )
        .values(status=DeliveryStatus.CANCELLED.value, finished_at=now, updated_at=now, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(delivery)
    if cast(CursorResult[Any], stopped).rowcount != 1:  # an UPDATE's result counts its rows
        raise IllegalTransition(
            f"The email of {number} is {delivery.status.replace('_', ' ')}, so it can no longer be cancelled."
        )
    owed = delivery_moved(
        DeliveryMove(
            organisation_id=organisation_id, delivery_id=delivery.id, invoice_number=number, actor=actor,
            action="cancelled", before=DeliveryStatus(previous), after=DeliveryStatus.CANCELLED,
            detail={"number": number, "from": previous}, status_channel=delivery.slack_channel, at=now,
        )
    )  # fmt: skip
    await write_owed(session, audits=owed.audits, posts=owed.posts)
    await session.flush()
    return delivery
