"""Asking for a send, one invoice or in bulk: what is queued, what waits for approval, what is refused and why."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.authorization import ApprovalRules
from services.db.models import (
    Approval,
    AuditLog,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    InvoiceStatus,
    Notification,
)
from services.errors import IllegalTransition, NeedsConfirmation, NotAllowed
from services.invoicing.invoices import InvoiceAct, mark_sent_manually
from services.sending.bulk import BulkRequest, request_bulk_delivery
from services.sending.readiness import SendingState
from services.sending.requests import (
    verp_token_is_genuine,
)
from tests import factories
from tests.harness.database import count_rows
from tests.harness.requesting import (
    NOW,
    REQUEST,
    RULES_FOR_TEST,
    SECRET,
    VERIFIED,
    acme_invoice,
    field_errors,
    request_send,
    send_context,
    suppress,
)

# --- asking for a send ----------------------------------------------------------------------


async def test_a_request_queues_one_delivery_with_a_fixed_message_id_for_now(session, org):
    await acme_invoice(session, org)
    outcome = await request_send(session, org)
    await session.commit()

    delivery = outcome.delivery
    assert outcome.created and outcome.approval is None and outcome.preview is None
    assert (delivery.status, delivery.next_attempt_at, delivery.kind) == (DeliveryStatus.QUEUED, NOW, "invoice")
    assert delivery.to == ["ap@acme.example"]
    assert delivery.body_text == "Dear Acme Corp,\n\nPlease find attached our invoice.\n"
    assert re.fullmatch(r"<inv-INV-0001-[0-9a-f]{24}@mail\.example\.com>", delivery.message_id)
    assert verp_token_is_genuine(delivery.verp_token, SECRET)
    assert not verp_token_is_genuine(delivery.verp_token, b"another secret")
    audit = (await session.execute(select(AuditLog.action, AuditLog.actor))).all()
    assert audit[-1] == ("delivery.requested", "U1")
    notes = (await session.execute(select(Notification.kind, Notification.delivery_id))).all()
    assert notes == [("delivery_status", delivery.id)]


async def test_two_deliveries_never_share_message_id_or_verp_token(session, org):
    await acme_invoice(session, org)
    first = (await request_send(session, org, replace(REQUEST, preview_first=True))).delivery
    preview = (await session.execute(select(Delivery).where(Delivery.kind == "preview"))).scalar_one()
    assert first.message_id != preview.message_id
    assert first.verp_token != preview.verp_token


async def test_a_request_above_the_threshold_waits_for_approval_and_asks_the_approvers(session, org):
    await acme_invoice(session, org, amount="5000.00")
    rules = ApprovalRules(approvers=frozenset({"U2"}), policy="above_amount", threshold=Decimal("1000"))
    outcome = await request_send(session, org, rules=rules)
    await session.commit()

    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    assert outcome.delivery.next_attempt_at is None
    assert outcome.approval is not None
    assert (outcome.approval.requested_by, outcome.approval.decision) == ("U1", "pending")
    kinds = (await session.execute(select(Notification.kind).order_by(Notification.id))).scalars().all()
    assert kinds == ["delivery_status", "approval_request"]


async def test_bad_input_comes_back_as_sentences_per_field_and_writes_nothing(session, org):
    await acme_invoice(session, org)
    errors = await field_errors(session, org, to=("bob@",), cc=("not an address",), subject=" ", message="")
    assert errors == {
        "to": "'bob@' is not a valid email address",
        "cc": "'not an address' is not a valid email address",
        "subject": "Give the email a subject",
        "message": "Write a message for the email body",
    }
    assert await field_errors(session, org, to=()) == {"to": "Give at least one recipient"}
    assert await count_rows(session, Delivery) == 0


async def test_a_preview_needs_an_email_address_of_the_requester(session, org):
    await acme_invoice(session, org)
    errors = await field_errors(session, org, preview_first=True, requester_email=None)
    assert errors == {"preview_first": "There is no email address of yours to send the preview to"}


async def test_a_suppressed_recipient_needs_send_anyway(session, org):
    await acme_invoice(session, org)
    suppress(session, org)
    await session.commit()
    assert await field_errors(session, org) == {
        "override_suppression": "ap@acme.example is on the suppression list (bounced permanently on 20 November 2026): "
        "tick 'send anyway' to override"
    }
    outcome = await request_send(session, org, replace(REQUEST, override_suppression=True))
    assert outcome.delivery.override_suppression is True


async def test_addresses_repeated_across_to_cc_and_bcc_receive_one_copy(session, org):
    await acme_invoice(session, org)
    outcome = await request_send(
        session, org, replace(REQUEST, cc=("AP@acme.example", "c@acme.example"), bcc=("c@acme.example",))
    )
    assert (outcome.delivery.cc, outcome.delivery.bcc) == (["c@acme.example"], [])


async def test_a_draft_invoice_is_not_sent(session, org):
    await acme_invoice(session, org, status=InvoiceStatus.DRAFT)
    with pytest.raises(
        IllegalTransition, match=re.escape("Invoice INV-0001 is still a draft: validate it before sending it.")
    ):
        await request_send(session, org)


async def test_nothing_is_sent_while_smtp_is_not_verified(session, org):
    await acme_invoice(session, org)
    failed = SendingState(configured=True, verified=False, detail="535 authentication failed")
    with pytest.raises(IllegalTransition, match="SMTP settings are not verified: 535 authentication failed"):
        await request_send(session, org, sending=failed)


async def test_only_listed_senders_may_send(session, org):
    await acme_invoice(session, org)
    with pytest.raises(NotAllowed, match="You can't send invoices"):
        await request_send(session, org, rules=ApprovalRules(senders=frozenset({"U7"})))


async def test_the_same_idempotency_key_returns_the_existing_delivery(session, org):
    await acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW", preview_first=True)
    first = await request_send(session, org, keyed)
    await session.commit()
    again = await request_send(session, org, keyed, now=NOW + timedelta(seconds=3))

    assert (first.created, again.created) == (True, False)
    assert again.delivery.id == first.delivery.id
    assert again.preview is not None and first.preview is not None
    assert again.preview.id == first.preview.id
    assert await count_rows(session, Delivery) == 2


async def test_two_concurrent_requests_with_one_key_create_one_delivery(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    await acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW")

    async def submit() -> bool:
        async with sessions() as own:
            outcome = await request_send(own, org, keyed)
            await own.commit()
            return outcome.created

    created = await asyncio.gather(submit(), submit())

    assert sorted(created) == [False, True]
    assert await count_rows(session, Delivery) == 1
    assert await count_rows(session, Notification) == 1


async def test_a_request_racing_an_uncommitted_twin_waits_for_it_and_returns_it(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    await acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW")
    async with sessions() as first, sessions() as second:
        created = await request_send(first, org, keyed)  # written, not yet committed: the twin cannot see it
        twin = asyncio.create_task(request_send(second, org, keyed))
        await asyncio.sleep(0.3)  # the twin is now waiting on the write lock (SQLite) or the invoice lock (PostgreSQL)
        await first.commit()
        returned = await asyncio.wait_for(twin, timeout=15)
        await second.commit()

    assert (created.created, returned.created) == (True, False)
    assert returned.delivery.id == created.delivery.id
    assert await count_rows(session, Delivery) == 1


async def test_an_invoice_being_sent_asks_for_confirmation_before_another_send(session, org):
    await acme_invoice(session, org)
    await request_send(session, org, now=NOW - timedelta(minutes=4))
    await session.commit()
    with pytest.raises(NeedsConfirmation) as caught:
        await request_send(session, org)
    assert str(caught.value) == "INV-0001 is being sent right now (asked 4 minutes ago by <@U1>) — send again?"
    confirmed = await request_send(session, org, replace(REQUEST, confirm_resend=True))
    assert confirmed.created
    assert await count_rows(session, Delivery) == 2


async def test_an_invoice_sent_minutes_ago_asks_for_confirmation(session, org):
    await acme_invoice(session, org)
    earlier = (await request_send(session, org, now=NOW - timedelta(minutes=10))).delivery
    earlier.status = DeliveryStatus.ACCEPTED
    earlier.finished_at = NOW - timedelta(minutes=4)
    await session.commit()
    with pytest.raises(NeedsConfirmation, match=r"^INV-0001 was sent 4 minutes ago by <@U1> — send again\?$"):
        await request_send(session, org)
    assert (await request_send(session, org, now=NOW + timedelta(days=1))).created


async def test_an_invoice_marked_as_sent_by_hand_asks_before_emailing_it(session, org):
    await acme_invoice(session, org)
    await mark_sent_manually(
        session,
        InvoiceAct(
            organisation_id=org.id, number="INV-0001", actor="U5", rules=RULES_FOR_TEST, at=NOW - timedelta(hours=3)
        ),
    )
    await session.commit()
    with pytest.raises(NeedsConfirmation, match="INV-0001 was marked as sent 3 hours ago by <@U5>"):
        await request_send(session, org)


async def test_a_preview_goes_to_the_requester_at_once_even_while_approval_is_pending(session, org):
    invoice = await acme_invoice(session, org)
    outcome = await request_send(
        session,
        org,
        replace(REQUEST, preview_first=True),
        rules=ApprovalRules(admins=frozenset({"U9"}), policy="always"),
    )
    await session.commit()

    preview = outcome.preview
    assert preview is not None
    assert (preview.kind, preview.status, preview.to, preview.next_attempt_at) == (
        DeliveryKind.PREVIEW, DeliveryStatus.QUEUED, ["alice@example.com"], NOW
    )  # fmt: skip
    assert preview.subject == outcome.delivery.subject
    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    assert await count_rows(session, Approval) == 1
    await session.refresh(invoice)
    assert invoice.status == InvoiceStatus.VALIDATED


# --- bulk -------------------------------------------------------------------------------------


async def test_bulk_send_creates_one_delivery_per_ready_invoice_and_explains_the_rest(session, org):
    acme = await factories.customer(session, org.id)
    nomail = await factories.customer(session, org.id, ref="NOMAIL", name="No Mail GmbH", emails=())
    await factories.invoice(session, org.id, acme, number="A-1")
    await factories.invoice(session, org.id, acme, number="A-2")
    await factories.invoice(session, org.id, acme, number="A-3", status=InvoiceStatus.DRAFT)
    await factories.invoice(session, org.id, nomail, number="N-1")
    await session.commit()

    async def bulk():
        return await request_bulk_delivery(
            session,
            organisation_id=org.id,
            sending=VERIFIED,
            request=BulkRequest(
                invoice_numbers=["A-1", "A-2", "A-3", "N-1", "MISSING"],
                requested_by="U1",
                public_url="http://x",
                idempotency_key="bulk-1",
            ),
            send=send_context(),
        )

    outcome = await bulk()
    await session.commit()

    assert [(o.delivery.status, o.delivery.subject) for o in outcome.requested] == [
        ("queued", "Invoice A-1 from Example Trading Ltd"),
        ("queued", "Invoice A-2 from Example Trading Ltd"),
    ]
    assert {s.invoice_number: s.reasons for s in outcome.skipped} == {
        "A-3": ("not validated (still a draft)",),
        "N-1": ("the customer has no recipient email",),
        "MISSING": ("There is no invoice 'MISSING'.",),
    }
    repeated = await bulk()
    assert [o.created for o in repeated.requested] == [False, False]
    assert await count_rows(session, Delivery) == 2
