"""The invoice's state follows its email: a bounce puts it back in `/invoices due` with the
reason; an email that may have arrived (`unknown`) is neither ready nor sent again without a
question. Real SMTP (scripted aiosmtpd), the real worker, the real web app, the fake Slack.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from services.authorization import ApprovalRules
from services.db.models import AuditLog, Delivery, DeliveryStatus, Invoice, InvoiceStatus, utcnow
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, notice, texts
from tests.harness.requesting import send_context
from tests.harness.sending import SECRET, bounce, make_worker, queue_delivery, reload, reported_delivered
from tests.harness.slack import ALICE, NOTIFYING, settings_with

# The e2e settings plus a notify channel and a VERP key.
settings = settings_with(**NOTIFYING)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


async def due_blocks(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> list[dict[str, Any]]:
    response = await slack.command("due", user=ALICE, response_url=fake_slack.response_url())
    assert response.status_code == 200
    return list(response.json()["blocks"])


def footer_labels(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks if b.get("block_id") == "due_footer" for e in b["elements"]]


async def test_a_bounce_after_sending_puts_the_invoice_back_in_due_with_the_reason(
    session, sessions, org, smtp, transport, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0007")
    await make_worker(sessions, transport).drain()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
    assert texts(await due_blocks(slack, fake_slack))[0].startswith("🎉 Nothing is due")

    await bounce(sessions, delivery, "ap@acme.example")

    blocks = await due_blocks(slack, fake_slack)
    read = texts(blocks)
    assert read[1].startswith("1 invoice to send")
    assert read[2] == (
        "*INV-0007* · Acme Corp\n€120.00 · 22 days overdue (due 1 November 2026)\n"
        "❌ bounced to ap@acme.example: the mailbox does not exist\n"
        "⚠️ Not ready: ap@acme.example is on the suppression list (bounced permanently before)"
    )
    assert not any(label.startswith("Send all ready") for label in footer_labels(blocks))
    async with sessions() as check:
        invoice = await check.get(Invoice, delivery.invoice_id)
        assert invoice is not None
        assert (invoice.status, invoice.sent_at, invoice.sent_via) == (InvoiceStatus.VALIDATED, None, None)
        audit = (await check.execute(select(AuditLog).where(AuditLog.action == "invoice.not_received"))).scalar_one()
    assert audit.detail["why"] == "bounced to ap@acme.example: the mailbox does not exist"

    review = await open_review(slack, fake_slack, "INV-0007")  # the review says it too, above the send
    assert texts(review["blocks"])[1].startswith(
        "❌ Not received: bounced to ap@acme.example: the mailbox does not exist\n"
    )

    await slack.command("show INV-0007", user=ALICE, response_url=fake_slack.response_url("show"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)
    shown = texts(fake_slack.responses_to("show")[0].body["blocks"])
    assert "*Status:* ❌ Not received: bounced to ap@acme.example: the mailbox does not exist" in shown[1]


async def test_an_old_bounce_does_not_undo_a_later_accepted_send(session, sessions, org, smtp, transport):
    first = await queue_delivery(session, org, number="INV-0008")
    await make_worker(sessions, transport).drain()
    resend = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0008",
            to=("ap@acme.example",),
            subject="Invoice INV-0008",
            message="Again.",
            requested_by="U_ALICE",
            confirm_resend=True,
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=SECRET),
    )
    await session.commit()
    await make_worker(sessions, transport).drain()

    await bounce(sessions, first, "ap@acme.example")
    async with sessions() as check:
        assert await check.scalar(select(Invoice.status)) == InvoiceStatus.SENT  # the later email was accepted

    await bounce(sessions, resend.delivery, "ap@acme.example")
    async with sessions() as check:
        assert await check.scalar(select(Invoice.status)) == InvoiceStatus.VALIDATED


async def test_an_email_that_may_have_arrived_is_not_ready_and_review_asks_before_sending_again(
    session, sessions, org, smtp, transport, fake_slack, slack: SlackRequestClient
):
    smtp.script.drop_after_data = True
    delivery = await queue_delivery(session, org, number="INV-0001")
    await make_worker(sessions, transport).drain()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.UNKNOWN
    smtp.script.drop_after_data = False
    other = await factories.customer(session, org.id, ref="GLOBEX", name="Globex", emails=("ap@globex.example",))
    await factories.invoice(session, org.id, other, number="INV-0002")
    await session.commit()

    blocks = await due_blocks(slack, fake_slack)
    read = texts(blocks)
    assert read[2].endswith("\n❓ may have arrived — check with the customer before sending again")
    assert read[3].endswith("\n✅ Ready to send")
    [send_all] = [e for b in blocks if b.get("block_id") == "due_footer" for e in b["elements"]]
    assert send_all["text"]["text"] == "Send all ready (1)"
    await slack.click(button_click(send_all, block_id="due_footer"), user=ALICE, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))
    confirmation = fake_slack.views[fake_slack.calls_to("views.update")[-1].args["view_id"]]
    assert [line for line in texts(confirmation["blocks"]) if "INV-" in line] == [
        "*INV-0002* · Globex · €120.00\nTo ap@globex.example"
    ]

    review = await open_review(slack, fake_slack, "INV-0001")
    assert any(
        "INV-0001 may have arrived: the connection broke after its email was handed over to the mail server" in line
        and "Check with the customer before sending again" in line
        for line in texts(review["blocks"])
    )
    assert "review_resend" in input_blocks(review)
    refused = await submit(slack, review, fake_slack=fake_slack)
    assert "⚠️ Tick “Send again anyway” to send it again." in notice(refused["view"])
    async with sessions() as check:
        assert len(list((await check.execute(select(Delivery))).scalars())) == 1
    confirmed = await submit(slack, review, review_resend=True, fake_slack=fake_slack)
    assert confirmed["response_action"] == "update"
    async with sessions() as check:
        resend = (await check.execute(select(Delivery).where(Delivery.id != delivery.id))).scalar_one()
        audit = (await check.execute(select(AuditLog.detail).where(AuditLog.subject_id == resend.id))).scalar_one()
    assert resend.requested_by == ALICE.id and audit["resend_confirmed"] is True


async def test_an_email_in_doubt_reported_delivered_makes_the_invoice_sent(session, sessions, org, smtp, transport):
    smtp.script.drop_after_data = True
    delivery = await queue_delivery(session, org, number="INV-0003")
    await make_worker(sessions, transport).drain()
    await reported_delivered(sessions, delivery, "pm-1")
    async with sessions() as check:
        invoice = await check.get(Invoice, delivery.invoice_id)
        assert invoice is not None
        assert (invoice.status, invoice.sent_via) == (InvoiceStatus.SENT, "email")
        assert (await check.get(Delivery, delivery.id)).status == DeliveryStatus.DELIVERED


async def test_a_resend_refused_by_the_server_makes_a_sent_invoice_owed_again(session, sessions, org, smtp, transport):
    await queue_delivery(session, org, number="INV-0016")
    await make_worker(sessions, transport).drain()
    smtp.script.reply_rcpt["new@acme.example"] = "550 5.1.1 <new@acme.example>: Recipient address rejected"
    await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0016",
            to=("new@acme.example",),
            subject="Invoice INV-0016",
            message="Again.",
            requested_by="U_ALICE",
            confirm_resend=True,
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=SECRET),
    )
    await session.commit()
    await make_worker(sessions, transport).drain()

    async with sessions() as check:
        invoice = (await check.execute(select(Invoice))).scalar_one()
        audit = (await check.execute(select(AuditLog).where(AuditLog.action == "invoice.not_received"))).scalar_one()
    assert (invoice.status, invoice.sent_via) == (InvoiceStatus.VALIDATED, None)
    assert audit.actor == "events" and "550 5.1.1" in audit.detail["why"]
