import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.authorization import ApprovalRules
from services.db.models import (
    Approval,
    ApprovalDecision,
    AuditLog,
    Delivery,
    DeliveryStatus,
    Notification,
    Organisation,
)
from services.errors import IllegalTransition, NotAllowed
from services.sending.approvals import AlreadyDecided, approve_delivery, reject_delivery
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, cancel_delivery, request_delivery
from tests import factories
from tests.harness.requesting import send_context

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
VERIFIED = SendingState(configured=True, verified=True)
RULES = ApprovalRules(approvers=frozenset({"U2", "U3"}), admins=frozenset({"UADMIN"}), policy="always")


async def _awaiting_approval(session: AsyncSession, org: Organisation, rules: ApprovalRules = RULES) -> Delivery:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme)
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0001", to=("ap@acme.example",), subject="Invoice", message="Hello", requested_by="U1"
        ),
        sending=VERIFIED,
        send=send_context(rules=rules, now=NOW - timedelta(minutes=5), domain="example.com", secret=b"secret"),
    )
    await session.commit()
    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    return outcome.delivery


def test_everyone_may_send_when_no_senders_are_listed():
    assert ApprovalRules().may_send("U9")
    listed = ApprovalRules(senders=frozenset({"U1"}), admins=frozenset({"UADMIN"}))
    assert listed.may_send("U1")
    assert listed.may_send("UADMIN")
    assert not listed.may_send("U9")


def test_admins_approve_when_no_approvers_are_listed():
    assert ApprovalRules(admins=frozenset({"UADMIN"})).may_approve("UADMIN")
    assert not ApprovalRules(admins=frozenset({"UADMIN"})).may_approve("U1")
    assert RULES.may_approve("U2")
    assert not RULES.may_approve("U9")


def test_approval_is_needed_only_strictly_above_the_threshold_or_always():
    above = ApprovalRules(policy="above_amount", threshold=Decimal("1000"))
    assert not above.needs_approval(Decimal("1000.00"))
    assert above.needs_approval(Decimal("1000.01"))
    assert ApprovalRules(policy="always").needs_approval(Decimal("0.01"))
    assert not ApprovalRules(policy="never").needs_approval(Decimal("1000000"))


async def test_approving_queues_the_delivery_now_and_records_who_approved(session, org):
    delivery = await _awaiting_approval(session, org)

    result = await approve_delivery(
        session, organisation_id=org.id, delivery_id=delivery.id, approver="U2", send=send_context(rules=RULES)
    )
    await session.commit()

    await session.refresh(delivery)
    assert (delivery.status, delivery.approved_by, delivery.next_attempt_at) == (DeliveryStatus.QUEUED, "U2", NOW)
    assert (result.approval.decision, result.approval.decided_by) == (ApprovalDecision.APPROVED, "U2")
    audit = (await session.execute(select(AuditLog.action, AuditLog.actor).order_by(AuditLog.id))).all()
    assert audit[-1] == ("delivery.approved", "U2")


async def test_a_decision_owes_slack_an_update_of_the_approval_and_status_messages(session, org):
    delivery = await _awaiting_approval(session, org)
    await approve_delivery(
        session, organisation_id=org.id, delivery_id=delivery.id, approver="U2", send=send_context(rules=RULES)
    )
    await session.commit()

    kinds = (await session.execute(select(Notification.kind, Notification.payload).order_by(Notification.id))).all()
    # the status message not yet posted absorbed the change; the approval message gets its own update
    assert [kind for kind, _ in kinds] == ["delivery_status", "approval_request", "approval_decided"]
    assert kinds[0][1]["status"] == "queued"
    assert kinds[2][1]["decided_by"] == "U2"


async def test_requester_cannot_approve_their_own_delivery(session, org):
    delivery = await _awaiting_approval(session, org, ApprovalRules(approvers=frozenset({"U1", "U2"}), policy="always"))
    with pytest.raises(NotAllowed, match=re.escape("You asked for this send, so someone else must approve it.")):
        await approve_delivery(
            session,
            organisation_id=org.id,
            delivery_id=delivery.id,
            approver="U1",
            send=send_context(rules=ApprovalRules(approvers=frozenset({"U1", "U2"}))),
        )


async def test_someone_who_is_not_an_approver_cannot_approve(session, org):
    delivery = await _awaiting_approval(session, org)
    with pytest.raises(NotAllowed, match=re.escape("You can't approve this: only approvers can.")):
        await approve_delivery(
            session, organisation_id=org.id, delivery_id=delivery.id, approver="U9", send=send_context(rules=RULES)
        )
    await session.rollback()
    await session.refresh(delivery)
    assert delivery.status == DeliveryStatus.AWAITING_APPROVAL


async def test_rejecting_ends_the_delivery_with_the_reason(session, org):
    delivery = await _awaiting_approval(session, org)
    await reject_delivery(
        session,
        organisation_id=org.id,
        delivery_id=delivery.id,
        approver="U3",
        reason="Wrong amount, see ticket 12",
        send=send_context(rules=RULES),
    )
    await session.commit()
    await session.refresh(delivery)
    approval = (await session.execute(select(Approval))).scalar_one()
    assert (delivery.status, delivery.finished_at) == (DeliveryStatus.REJECTED, NOW)
    assert (approval.decision, approval.decided_by, approval.reason) == (
        "rejected",
        "U3",
        "Wrong amount, see ticket 12",
    )


async def test_a_second_decision_is_told_who_decided_and_when(session, org):
    delivery = await _awaiting_approval(session, org)
    await approve_delivery(
        session, organisation_id=org.id, delivery_id=delivery.id, approver="U2", send=send_context(rules=RULES)
    )
    await session.commit()

    with pytest.raises(AlreadyDecided, match=r"^Already approved by <@U2> at 14:03 UTC\.$"):
        await reject_delivery(
            session, organisation_id=org.id, delivery_id=delivery.id, approver="U3", send=send_context(rules=RULES)
        )
    with pytest.raises(AlreadyDecided, match=r"at 23 November 2026, 14:03 UTC\.$"):
        await approve_delivery(
            session,
            organisation_id=org.id,
            delivery_id=delivery.id,
            approver="U3",
            send=send_context(rules=RULES, now=NOW + timedelta(days=1)),
        )
    org.default_language, org.country = "de", "DE"  # the team's locale writes the day and time
    await session.commit()
    with pytest.raises(AlreadyDecided, match=r"^Already approved by <@U2> at 23\. November 2026, 14:03 UTC\.$"):
        await approve_delivery(
            session,
            organisation_id=org.id,
            delivery_id=delivery.id,
            approver="U3",
            send=send_context(rules=RULES, now=NOW + timedelta(days=1)),
        )


async def test_two_approvers_at_the_same_moment_yield_exactly_one_decision(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    delivery = await _awaiting_approval(session, org)

    async def approve(approver: str) -> str:
        async with sessions() as own:
            try:
                await approve_delivery(
                    own,
                    organisation_id=org.id,
                    delivery_id=delivery.id,
                    approver=approver,
                    send=send_context(rules=RULES),
                )
                await own.commit()
                return "approved"
            except AlreadyDecided as exc:
                await own.rollback()
                return str(exc)

    answers = await asyncio.gather(approve("U2"), approve("U3"))

    approval = (await session.execute(select(Approval).execution_options(populate_existing=True))).scalar_one()
    winner = approval.decided_by
    assert answers.count("approved") == 1
    assert [a for a in answers if a != "approved"] == [f"Already approved by <@{winner}> at 14:03 UTC."]
    audit = (await session.execute(select(AuditLog.action).where(AuditLog.action == "delivery.approved"))).all()
    assert len(audit) == 1


async def test_a_cancelled_send_cannot_be_approved_any_more(session, org):
    delivery = await _awaiting_approval(session, org)
    await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=RULES, now=NOW)
    await session.commit()
    with pytest.raises(IllegalTransition, match="is cancelled: there is nothing to decide"):
        await approve_delivery(
            session, organisation_id=org.id, delivery_id=delivery.id, approver="U2", send=send_context(rules=RULES)
        )


async def test_a_send_needing_approval_is_refused_when_nobody_else_could_approve_it(session, org):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme)
    only_me = ApprovalRules(approvers=frozenset({"U1"}), policy="always")
    with pytest.raises(NotAllowed, match="nobody other than you can approve"):
        await request_delivery(
            session,
            organisation_id=org.id,
            request=DeliveryRequest(
                invoice_number="INV-0001", to=("ap@acme.example",), subject="S", message="M", requested_by="U1"
            ),
            sending=VERIFIED,
            send=send_context(rules=only_me, domain="example.com", secret=b"secret"),
        )


async def test_an_approval_racing_an_uncommitted_one_waits_and_is_told_who_won(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    delivery = await _awaiting_approval(session, org)
    async with sessions() as first, sessions() as second:
        await approve_delivery(
            first, organisation_id=org.id, delivery_id=delivery.id, approver="U2", send=send_context(rules=RULES)
        )
        late = asyncio.create_task(
            approve_delivery(
                second, organisation_id=org.id, delivery_id=delivery.id, approver="U3", send=send_context(rules=RULES)
            )
        )
        await asyncio.sleep(0.3)  # the late click now waits on the approval row (or SQLite's write lock)
        await first.commit()
        with pytest.raises(AlreadyDecided, match=r"^Already approved by <@U2> at 14:03 UTC\.$"):
            await asyncio.wait_for(late, timeout=15)

    await session.refresh(delivery)
    assert (delivery.status, delivery.approved_by) == (DeliveryStatus.QUEUED, "U2")
