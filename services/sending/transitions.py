"""A delivery's status moves, in one table, and what each move owes: its audit entry and Slack posts.

`MOVES` is the whole life of a delivery (the invoice's twin is services.invoicing.invoices /
services.invoicing.states): who may move it from where to where. Every mover goes through it:
- people ask, approve, reject and cancel (`delivery_moved` below, which also says what the
  move owes);
- the worker claims (services.sending.queue), records the SMTP outcome
  (services.sending.outcomes) and recovers stale sends (queue again); `system_moved` below
  says what those moves owe;
- events move it forward only, by the precedence rules (services.tracking.precedence,
  filed by services.tracking.filing).
An ORM move calls `check_move`; a Core UPDATE takes its `WHERE status IN (…)` from
`origins_of(target)`, so a row another mover changed meanwhile is left alone.

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

from sqlalchemy import ColumnElement

from services.db.literals import literal_in
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
    # the SMTP reply (what events filed while it was in flight make of it, by precedence: a fast
    # webhook's delivered or opened, a bounce that beat the commit); requeued or failed by stale recovery
    # cancelled: a reminder whose invoices were all paid (or held back) before it went (sending/reminder_job)
    S.SENDING: frozenset({S.ACCEPTED, S.DELIVERED, S.OPENED, S.DEFERRED, *BAD, S.UNKNOWN, S.QUEUED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.DELIVERED, S.OPENED, S.DEFERRED, *BAD}),
    S.DELIVERED: frozenset({S.OPENED, *BAD}),
    S.OPENED: frozenset(BAD),
    # a person decides, or events tell (a soft bounce of an email that did go out: deferred, never resent)
    S.UNKNOWN: frozenset({S.ACCEPTED, S.DEFERRED, S.DELIVERED, S.OPENED, *BAD}),
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


def origins_of(target: S | str) -> frozenset[S]:
    """Every status the table lets a delivery leave for `target`: the WHERE of a Core UPDATE to it."""
    return frozenset(origin for origin, targets in MOVES.items() if origin is not None and S(target) in targets)


def origin_values(target: S | str) -> list[str]:
    """`origins_of(target)` as the sorted column values a `status IN (…)` binds (stable SQL, cached plans)."""
    return sorted(origin.value for origin in origins_of(target))


# Emails waiting to be sent (queued, deferred, awaiting approval): a status the worker claims from,
# or one that becomes queued, other than `sending` itself (being sent now; stale recovery requeues it).
# What a paused organisation keeps waiting and what the UBL loop checks ahead of the worker.
WAITING: frozenset[S] = (origins_of(S.SENDING) | origins_of(S.QUEUED)) - {S.SENDING}


def comes_from(column: ColumnElement[str], target: S | str) -> ColumnElement[bool]:
    """`column IN ('queued', …)`: the origins of `target`, written into the SQL as literals.

    A bound `IN` list is an "expanding" parameter, which an executemany (the worker's one UPDATE
    for many outcomes of the same target) cannot take; the values are the table's own constants.
    """
    return literal_in(column, origin_values(target))


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
        reason = move.detail.get("approval_reason")  # the risk rule's sentence (services/sending/risk.py)
        request = status | {"requested_by": move.requested_by, **({"approval_reason": reason} if reason else {})}
        asked = post(NotificationKind.APPROVAL_REQUEST, request, None)
        return Owed((audit,), (status_post, asked))
    posts: tuple[OwedPost, ...] = (status_post,)
    if move.before == S.AWAITING_APPROVAL:
        decided = status | {"decision": move.decision or move.action, "decided_by": move.actor}
        posts = (post(NotificationKind.APPROVAL_DECIDED, decided, move.approval_channel), status_post)
    if move.after in (S.REJECTED, S.CANCELLED):  # the requester reads who stopped it, and why, in its thread
        reason = move.detail.get("reason")
        note = {"note": move.after.value, "by": move.actor, **({"reason": reason} if reason else {})}
        posts = (*posts, post(NotificationKind.DELIVERY_NOTE, status | note, move.status_channel))
    return Owed((audit,), posts)


@dataclass(frozen=True)
class Alert:
    """A problem a person must look at (a refusal, a failure, an email that may or may not have gone)."""

    type: str  # failed, unknown
    recipient: str | None
    diagnostic: str


@dataclass(frozen=True, kw_only=True)
class SystemMove:
    """The worker moved a delivery (an SMTP outcome, stale recovery): what Slack and the audit log need."""

    organisation_id: int
    delivery_id: int
    before: S | str
    after: S | str
    invoice: bool  # False for a preview to staff: its failures raise no alert (True for invoices and reminders)
    status_channel: str | None
    alerts: tuple[Alert, ...] = ()
    actor: str | None = None  # who the audit entry names; None: not audited (stale recovery names nobody)
    detail: dict[str, Any] = field(default_factory=dict)  # the audit entry's detail


def system_moved(move: SystemMove) -> Owed:
    """Check `move` against the table; its audit entry (when it has an actor), its status message
    update and, for an invoice, its alerts — posted in the status message's thread with the fixes."""
    check_move(move.before, move.after)
    after = S(move.after)
    audits: tuple[AuditEntry, ...] = ()
    if move.actor is not None:
        audits = (
            AuditEntry(
                organisation_id=move.organisation_id, actor=move.actor, action=f"delivery.{after.value}",
                subject_type="delivery", subject_id=move.delivery_id, detail=move.detail,
            ),
        )  # fmt: skip

    def post(kind: NotificationKind, payload: dict[str, Any]) -> OwedPost:
        return OwedPost(move.organisation_id, move.delivery_id, kind, payload, move.status_channel)

    posts = [post(NotificationKind.DELIVERY_STATUS, {"status": after.value})]
    if move.invoice:
        posts += [
            post(NotificationKind.DELIVERY_ALERT,
                 {"type": alert.type, "recipient": alert.recipient, "diagnostic": alert.diagnostic[:2000]})
            for alert in move.alerts
        ]  # fmt: skip
    return Owed(audits, tuple(posts))
