"""The approve / reject decision on a delivery that waits for an approver (four eyes).

Who holds which role (`ApprovalRules`) and what each role may do are services.authorization's.

A decision is taken with one conditional UPDATE (`… WHERE decision = 'pending'`), so two
approvers clicking at the same moment yield exactly one decision on SQLite and on
PostgreSQL alike; the other is told who decided and when (`AlreadyDecided`). The caller
commits; after any error it must roll back (nothing is then decided).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, authorize
from services.db.models import Approval, ApprovalDecision, Delivery, DeliveryStatus, Invoice, Notification
from services.errors import IllegalTransition, NotFound
from services.formatting import format_clock, format_moment
from services.invoicing.organisations import team_locale
from services.notifications import NotificationKind
from services.sending.context import SendContext
from services.sending.transitions import DeliveryMove, delivery_moved
from services.unit_of_work import write_owed


class AlreadyDecided(IllegalTransition):
    """Someone decided first; the message says who and when ("Already approved by <@U2> at 14:03 UTC")."""

    def __init__(self, approval: Approval, *, now: datetime, locale: str) -> None:
        self.decision = ApprovalDecision(approval.decision)
        self.decided_by = approval.decided_by
        self.decided_at = approval.decided_at
        when = _when(self.decided_at, now, locale)
        super().__init__(f"Already {self.decision.value} by <@{self.decided_by}> at {when}.")


def _when(at: datetime | None, now: datetime, locale: str) -> str:
    """Today's decisions by their time alone (`14:03 UTC`), older ones with their day, in the team's locale."""
    if at is None:
        return "an unknown time"
    if at.date() == now.date():
        return f"{format_clock(at, locale)} UTC"
    return format_moment(at, locale)


@dataclass(frozen=True)
class ApprovalResult:
    approval: Approval
    delivery: Delivery
    invoice_number: str


async def _load(session: AsyncSession, *, organisation_id: int, delivery_id: int) -> tuple[Approval, Delivery, str]:
    row = (
        await session.execute(
            select(Approval, Delivery, Invoice.number)
            .join(Delivery, Delivery.id == Approval.delivery_id)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .where(Approval.delivery_id == delivery_id, Approval.organisation_id == organisation_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("There is no approval request for this send.")
    return row[0], row[1], row[2]


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An approver's answer to one waiting send."""

    organisation_id: int
    delivery_id: int
    actor: str
    decision: ApprovalDecision
    reason: str | None = None


async def _may_decide(session: AsyncSession, asked: Decision, *, send: SendContext) -> tuple[Approval, str]:
    """The request, if `asked.actor` may make this decision now; the sentence why not otherwise."""
    now = send.clock()
    organisation_id = asked.organisation_id
    approval, delivery, number = await _load(session, organisation_id=organisation_id, delivery_id=asked.delivery_id)
    if approval.decision != ApprovalDecision.PENDING:
        raise AlreadyDecided(approval, now=now, locale=await team_locale(session, organisation_id=organisation_id))
    if delivery.status != DeliveryStatus.AWAITING_APPROVAL:
        raise IllegalTransition(
            f"The send of {number} is {delivery.status.replace('_', ' ')}: there is nothing to decide."
        )
    action = Action.APPROVE if asked.decision == ApprovalDecision.APPROVED else Action.REJECT
    authorize(send.rules, asked.actor, action, requested_by=approval.requested_by)
    return approval, number


async def check_rejection(
    session: AsyncSession, *, organisation_id: int, delivery_id: int, approver: str, send: SendContext
) -> str:
    """Whether `approver` may reject the waiting send now (before asking them why); its invoice number."""
    asked = Decision(
        organisation_id=organisation_id, delivery_id=delivery_id, actor=approver, decision=ApprovalDecision.REJECTED
    )
    return (await _may_decide(session, asked, send=send))[1]


async def _decide(session: AsyncSession, asked: Decision, *, send: SendContext) -> ApprovalResult:
    organisation_id, delivery_id, actor, decision, reason = (
        asked.organisation_id, asked.delivery_id, asked.actor, asked.decision, asked.reason
    )  # fmt: skip
    now = send.clock()
    approval, number = await _may_decide(session, asked, send=send)

    taken = await session.execute(
        update(Approval)
        .where(Approval.id == approval.id, Approval.decision == ApprovalDecision.PENDING.value)
        .values(decision=decision.value, decided_by=actor, decided_at=now, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], taken).rowcount != 1:  # an UPDATE's result counts its rows
        approval, _, _ = await _load(session, organisation_id=organisation_id, delivery_id=delivery_id)
        raise AlreadyDecided(approval, now=now, locale=await team_locale(session, organisation_id=organisation_id))

    if decision == ApprovalDecision.APPROVED:
        values = {"status": DeliveryStatus.QUEUED.value, "next_attempt_at": now, "approved_by": actor}
    else:
        values = {"status": DeliveryStatus.REJECTED.value, "finished_at": now, "last_error": reason}
    moved = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.AWAITING_APPROVAL.value)
        .values(**values, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], moved).rowcount != 1:
        raise IllegalTransition(f"The send of {number} was cancelled or changed meanwhile: there is nothing to decide.")
    approval, delivery, _ = await _load(session, organisation_id=organisation_id, delivery_id=delivery_id)

    owed = delivery_moved(
        DeliveryMove(
            organisation_id=organisation_id, delivery_id=delivery.id, invoice_number=number, actor=actor,
            action=decision.value, before=DeliveryStatus.AWAITING_APPROVAL, after=DeliveryStatus(delivery.status),
            detail={"number": number, "requested_by": approval.requested_by, **({"reason": reason} if reason else {})},
            status_channel=delivery.slack_channel, approval_channel=approval.slack_channel,
            requested_by=approval.requested_by, decision=decision.value, at=now,
        )
    )  # fmt: skip
    await write_owed(session, audits=owed.audits, posts=owed.posts)
    await session.flush()
    return ApprovalResult(approval=approval, delivery=delivery, invoice_number=number)


async def approve_delivery(
    session: AsyncSession, *, organisation_id: int, delivery_id: int, approver: str, send: SendContext
) -> ApprovalResult:
    """Approve a waiting send: it is queued for the worker at once. Never by its requester."""
    asked = Decision(
        organisation_id=organisation_id, delivery_id=delivery_id, actor=approver, decision=ApprovalDecision.APPROVED
    )
    return await _decide(session, asked, send=send)


async def reject_delivery(
    session: AsyncSession,
    *,
    organisation_id: int,
    delivery_id: int,
    approver: str,
    send: SendContext,
    reason: str | None = None,
) -> ApprovalResult:
    """Refuse a waiting send: the delivery ends as `rejected` and no email goes out."""
    asked = Decision(
        organisation_id=organisation_id, delivery_id=delivery_id, actor=approver,
        decision=ApprovalDecision.REJECTED, reason=(reason or "").strip() or None,
    )  # fmt: skip
    return await _decide(session, asked, send=send)


async def approval_request_message(session: AsyncSession, *, delivery_id: int) -> tuple[str, str] | None:
    """Where the send's approval request was posted in Slack (channel, ts); None until it is."""
    approval = (await session.execute(select(Approval).where(Approval.delivery_id == delivery_id))).scalar_one_or_none()
    if approval is None or not approval.slack_channel or not approval.slack_ts:
        return None
    return approval.slack_channel, approval.slack_ts


async def approval_reason(session: AsyncSession, *, delivery_id: int) -> str | None:
    """Why the risk rule asked for the send's approval, as its approval request carried it (None: the policy
    asked). The decided message keeps it, so the request reads the same after someone decided."""
    query = (
        select(Notification.payload)
        .where(Notification.delivery_id == delivery_id, Notification.kind == NotificationKind.APPROVAL_REQUEST.value)
        .order_by(Notification.id.desc())
        .limit(1)
    )
    payload = (await session.execute(query)).scalar_one_or_none() or {}
    reason = payload.get("approval_reason")
    return str(reason) if reason else None
