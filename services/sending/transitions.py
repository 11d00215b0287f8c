"""A delivery's status moves, in one table, and what each move owes: its audit entry and Slack posts.

`MOVES` is the whole life of a delivery (the invoice's twin is services.invoicing.invoices /
services.invoicing.states): who may move it from where to where. People move it by asking,
approving, rejecting and cancelling (`delivery_moved` below, which also says what the move
owes); the worker moves it while sending (services.sending: claim, outcome, requeue,
stale recovery); events move it forward only, by the precedence rules
(services.tracking.precedence).

A person's move owes the same things wherever it is made, so callers do not write them
by hand: an audit entry `delivery.<action>`; the delivery's status message; the approval
request when the send starts waiting for an approver; and the approval message's rewrite
when a waiting send is decided or cancelled (first, so the approvers see it before the
status moves on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.db.models import DeliveryStatus as S
from services.errors import IllegalTransition
from services.notifications import NotificationKind
from services.unit_of_work import AuditEntry, OwedPost

NEW = None  # the "from" of a delivery being created
BAD = (S.BOUNCED, S.FAILED, S.DROPPED, S.COMPLAINED)  # services.tracking.precedence.TERMINAL_BAD

MOVES: Mapping[S | None, frozenset[S]] = {
    NEW: frozenset({S.AWAITING_APPROVAL, S.QUEUED}),  # asked for (services.sending.requests.request_delivery)
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.REJECTED, S.CANCELLED}),  # approved, rejected, cancelled
    S.QUEUED: frozenset({S.SENDING, S.CANCELLED}),  # claimed by a worker, or cancelled
    # retried by the worker, cancelled while it waits, or moved on by an event about the soft bounce
    S.DEFERRED: frozenset({S.SENDING, S.CANCELLED, S.ACCEPTED, S.DELIVERED, S.OPENED, *BAD, S.UNKNOWN}),
    # the SMTP reply; requeued or failed by stale recovery (services.sending.queue)
    S.SENDING: frozenset({S.ACCEPTED, S.DEFERRED, S.FAILED, S.UNKNOWN, S.QUEUED, S.BOUNCED, S.DROPPED}),
    S.ACCEPTED: frozenset({S.DELIVERED, S.OPENED, S.DEFERRED, *BAD}),
    S.DELIVERED: frozenset({S.OPENED, *BAD}),
    S.OPENED: frozenset(BAD),
    S.UNKNOWN: frozenset({S.ACCEPTED, S.DELIVERED, S.OPENED, *BAD}),
    # a bad outcome only changes to another bad one, by precedence; nothing leaves rejected or cancelled
    **{bad: frozenset(BAD) - {bad} for bad in BAD},
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}


def check_move(before: S | str | None, after: S | str) -> None:
    """Refuse a move the table does not have (a programming error, or a race the caller lost)."""
    origin = S(before) if before is not None else NEW
    if S(after) not in MOVES[origin]:
        raise IllegalTransition(f"A send cannot go from {origin or 'new'} to {S(after)}.")


@dataclass(frozen=True)
class DeliveryMove:
    """A person moved a delivery; what is needed to say so in the audit log and in Slack."""

    organisation_id: int
    delivery_id: int
    invoice_number: str
    actor: str
    action: str  # the audit's `delivery.<action>`: requested, approved, rejected, cancelled
    before: S | None
    after: S
    detail: dict[str, Any] = field(default_factory=dict)  # the audit entry's detail
    status_channel: str | None = None  # where the status message is, once posted
    approval_channel: str | None = None  # where the approval request is, once posted
    requested_by: str | None = None
    decision: str | None = None  # approved, rejected, cancelled: for the approval message
    at: datetime | None = None  # when the posts are owed (the use case's clock)


@dataclass(frozen=True)
class Owed:
    audits: tuple[AuditEntry, ...]
    posts: tuple[OwedPost, ...]


def delivery_moved(move: DeliveryMove) -> Owed:
    """Check `move` against the table; its audit entry and its Slack posts, in the order they go out."""
    check_move(move.before, move.after)
    audit = AuditEntry(
        organisation_id=move.organisation_id,
        actor=move.actor,
        action=f"delivery.{move.action}",
        subject_type="delivery",
        subject_id=move.delivery_id,
        detail=move.detail,
    )
    status = {"delivery_id": move.delivery_id, "invoice_number": move.invoice_number, "status": move.after.value}

    def post(kind: NotificationKind, payload: dict[str, Any], channel: str | None) -> OwedPost:
        return OwedPost(move.organisation_id, move.delivery_id, kind, payload, channel, move.at)

    status_post = post(NotificationKind.DELIVERY_STATUS, status, move.status_channel)
    if move.after == S.AWAITING_APPROVAL:
        asked = post(NotificationKind.APPROVAL_REQUEST, status | {"requested_by": move.requested_by}, None)
        return Owed((audit,), (status_post, asked))
    if move.before == S.AWAITING_APPROVAL:
        decided = status | {"decision": move.decision or move.action, "decided_by": move.actor}
        rewrite = post(NotificationKind.APPROVAL_DECIDED, decided, move.approval_channel)
        return Owed((audit,), (rewrite, status_post))
    return Owed((audit,), (status_post,))
