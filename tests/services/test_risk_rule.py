"""The risk rule: with it on, a send to a domain the customer was never sent to, or to recipients
changed since its last delivered email, waits for an approver, and the review says why."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Delivery, DeliveryStatus, Organisation
from services.sending.review import ReviewRequest, prepare_review
from tests import factories
from tests.harness.requesting import NOW, REQUEST, request_send

RISKY = ApprovalRules(approvers=frozenset({"U2"}), new_recipients=True)


async def _two_invoices(session: AsyncSession, org: Organisation) -> None:
    acme = await factories.customer(session, org.id)
    for number in ("INV-0001", "INV-0002"):
        await factories.invoice(session, org.id, acme, number=number)
    await session.commit()


async def _delivered(session: AsyncSession, delivery: Delivery) -> None:
    """The first email arrived (as the bounce and webhook loops would record it)."""
    delivery.status = DeliveryStatus.DELIVERED
    await session.commit()


async def test_a_first_send_to_a_new_domain_asks_approval_and_says_why(session, org):
    await _two_invoices(session, org)

    outcome = await request_send(session, org, rules=RISKY)
    await session.commit()

    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL and outcome.approval is not None
    detail = (await session.execute(select(AuditLog.detail).order_by(AuditLog.id.desc()).limit(1))).scalar_one()
    assert detail["approval_reason"] == "new domain acme.example for Acme Corp"


async def test_a_second_send_to_the_same_delivered_recipients_is_queued(session, org):
    await _two_invoices(session, org)
    await _delivered(session, (await request_send(session, org, rules=RISKY)).delivery)

    second = await request_send(session, org, replace(REQUEST, invoice_number="INV-0002"), rules=RISKY)

    assert second.delivery.status == DeliveryStatus.QUEUED and second.approval is None


async def test_a_changed_recipient_asks_approval_with_what_changed(session, org):
    await _two_invoices(session, org)
    await _delivered(session, (await request_send(session, org, rules=RISKY)).delivery)
    changed = replace(REQUEST, invoice_number="INV-0002", to=("billing@acme.example",))

    second = await request_send(session, org, changed, rules=RISKY)
    await session.commit()

    assert second.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    detail = (await session.execute(select(AuditLog.detail).order_by(AuditLog.id.desc()).limit(1))).scalar_one()
    assert detail["approval_reason"] == (
        "recipients changed since the last delivered email to Acme Corp "
        "(added billing@acme.example; removed ap@acme.example)"
    )


async def test_an_email_that_did_not_arrive_does_not_make_its_recipients_known(session, org):
    await _two_invoices(session, org)
    first = (await request_send(session, org, rules=RISKY)).delivery
    first.status = DeliveryStatus.BOUNCED
    await session.commit()

    second = await request_send(session, org, replace(REQUEST, invoice_number="INV-0002"), rules=RISKY)

    assert second.delivery.status == DeliveryStatus.AWAITING_APPROVAL


async def test_with_the_rule_off_a_new_domain_is_sent_at_once(session, org):
    await _two_invoices(session, org)

    outcome = await request_send(session, org, rules=replace(RISKY, new_recipients=False))

    assert outcome.delivery.status == DeliveryStatus.QUEUED


async def test_the_review_draft_says_why_an_approver_will_be_asked(session, org):
    await _two_invoices(session, org)

    def review(risk_rule: bool):
        request = ReviewRequest(
            organisation_id=org.id, invoice_number="INV-0001", public_url="https://bot.example/", now=NOW,
            risk_rule=risk_rule,
        )  # fmt: skip
        return prepare_review(session, request)

    assert (await review(True)).approval_reason == "new domain acme.example for Acme Corp"
    assert (await review(False)).approval_reason is None
