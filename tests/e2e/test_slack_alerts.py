"""A send that fails: the alert in the status message's thread, and its three buttons.

The failure is real (the scripted SMTP server answers 550 to every recipient), the alert
is posted by the notifier through the real `slack_sdk` client, and the buttons are clicked
with signed requests to the real web app.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.sandbox.slack_requests import SlackRequestClient
from handlers.ids import BlockId
from services.db.models import (
    AuditLog,
    Customer,
    Delivery,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
)
from services.formatting import format_moment
from tests.harness.modals import FIX_QUEUED, alert_button, open_fix_modal, submit_fix
from tests.harness.reading import block_texts, channel_messages
from tests.harness.sending import bounce, failed_send, make_worker, queue_delivery, reload
from tests.harness.slack import ALICE, CHANNEL, settings_with

# The e2e settings plus the channel the notifier posts status messages and alerts to.
settings = settings_with(INVOICEBOT_NOTIFY_CHANNEL=CHANNEL)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


async def test_a_refused_send_posts_an_alert_in_its_thread_with_the_reason_and_three_buttons(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    delivery, status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)

    assert delivery.status == DeliveryStatus.FAILED
    first, threaded = fake_slack.calls_to("chat.postMessage")
    assert "thread_ts" not in first.args
    assert threaded.args["thread_ts"] == status.ts == delivery.slack_ts
    assert alert.text == "❌ Failed: ap@acme.example — the mailbox does not exist (invoice INV-0007)"
    read = block_texts(alert.blocks)
    assert "Server said: ```550 5.1.1 &lt;ap@acme.example&gt;: Recipient address rejected```" in read
    [actions] = [block for block in alert.blocks if block["type"] == "actions"]
    assert [(e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("Fix address & resend", str(delivery.id)),
        ("Mark as sent manually", str(delivery.id)),
        ("Open invoice", "INV-0007"),
    ]
    assert "❌ Failed: ap@acme.example — the mailbox does not exist (" in status.text
    assert "550 5.1.1" in status.text


async def test_fix_address_and_resend_updates_the_customer_and_the_new_send_is_accepted(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)

    modal = await open_fix_modal(slack, fake_slack, alert)
    assert "❌ ap@acme.example — the mailbox does not exist" in modal["blocks"][0]["text"]["text"]
    [field] = [block for block in modal["blocks"] if block.get("block_id") == BlockId.FIX_EMAILS]
    assert field["element"]["initial_value"] == "ap@acme.example"

    def typed(text: str) -> dict[str, Any]:
        return {BlockId.FIX_EMAILS: {"emails": {"type": "plain_text_input", "value": text}}}

    refused = await slack.submit(modal, typed("accounts@acme.example\nnot-an-address"), user=ALICE)
    assert refused.json()["response_action"] == "errors"
    assert "'not-an-address' is not a valid email address" in refused.json()["errors"][BlockId.FIX_EMAILS]
    async with sessions() as check:
        assert await check.scalar(select(Customer.emails)) == ["ap@acme.example"]  # nothing saved

    accepted = await submit_fix(slack, fake_slack, modal, typed("accounts@acme.example"))
    assert [b["text"]["text"] for b in accepted["view"]["blocks"]] == FIX_QUEUED
    again = await submit_fix(slack, fake_slack, modal, typed("accounts@acme.example"))  # a double submit
    assert [b["text"]["text"] for b in again["view"]["blocks"]] == FIX_QUEUED

    async with sessions() as check:
        assert await check.scalar(select(Customer.emails)) == ["accounts@acme.example"]
        deliveries = list((await check.execute(select(Delivery).order_by(Delivery.id))).scalars())
        audit = list((await check.execute(select(AuditLog.action).where(AuditLog.actor == ALICE.id))).scalars())
    assert len(deliveries) == 2
    resend = deliveries[1]
    assert resend.to == ["accounts@acme.example"] and resend.requested_by == ALICE.id
    assert (resend.subject, resend.body_text, resend.attachments) == (
        delivery.subject,
        delivery.body_text,
        delivery.attachments,
    )
    assert "customer.emails_changed" in audit and "delivery.requested" in audit

    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    [received] = smtp.received
    assert received.recipients == ["accounts@acme.example"]
    messages = channel_messages(fake_slack)
    [new_status] = [m for m in messages if m.ts == (await reload(sessions, resend.id)).slack_ts]
    assert "✅ Sent to accounts@acme.example — accepted by the mail server: 250" in new_status.text


async def test_mark_as_sent_manually_from_the_alert_marks_the_invoice_and_says_so_only_to_the_clicker(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)

    for key in ("first", "second"):
        await slack.click(
            alert_button(alert, "Mark as sent manually"),
            user=ALICE,
            response_url=fake_slack.response_url(key),
            channel_id=CHANNEL,
            message_ts=alert.ts,
        )
        await fake_slack.wait_until(lambda key=key: len(fake_slack.responses_to(key)) == 1)

    [first] = fake_slack.responses_to("first")
    assert first.body["response_type"] == "ephemeral"
    assert first.body["blocks"][0]["text"]["text"] == (
        f"✅ <@{ALICE.id}> marked *INV-0007* as sent. No email was sent."
    )
    [second] = fake_slack.responses_to("second")  # a stale click: who resolved it, and when
    async with sessions() as check:
        invoice = await check.get(Invoice, delivery.invoice_id)
        assert invoice is not None and invoice.sent_at is not None
        assert (invoice.status, invoice.sent_via, invoice.sent_by) == (InvoiceStatus.SENT, "manual", ALICE.id)
    assert second.body["text"] == (  # the moment as the team writes it (en_GB), not an ISO stamp
        f"This alert about INV-0007 was already resolved by <@{ALICE.id}> at "
        f"{format_moment(invoice.sent_at, 'en_GB')}: marked as sent manually."
    )


async def test_open_invoice_answers_with_the_invoice_summary(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    _delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)
    await slack.click(
        alert_button(alert, "Open invoice"),
        user=ALICE,
        response_url=fake_slack.response_url("open"),
        channel_id=CHANNEL,
        message_ts=alert.ts,
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("open")) == 1)
    [answer] = fake_slack.responses_to("open")
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["blocks"][0]["text"]["text"] == "Invoice INV-0007"
    assert "*Customer:* Acme Corp" in answer.body["blocks"][1]["text"]["text"]


async def test_a_bounce_after_acceptance_alerts_per_recipient_in_the_thread_and_rewrites_the_status(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    delivery = await queue_delivery(session, org, to=("ap@acme.example", "boss@acme.example"), number="INV-0011")
    await make_worker(sessions, transport).drain()
    assert await notifier.drain_once() == 1
    [status] = channel_messages(fake_slack)
    assert "✅ Sent to ap@acme.example, boss@acme.example — accepted" in status.text

    for number, recipient in enumerate(("ap@acme.example", "boss@acme.example")):
        await bounce(sessions, delivery, recipient, event_id=f"dsn-{number}")
    await notifier.drain_once()
    await notifier.drain_once()

    status, *alerts = channel_messages(fake_slack)
    threaded = [call for call in fake_slack.calls_to("chat.postMessage") if call.args.get("thread_ts")]
    assert {call.args["thread_ts"] for call in threaded} == {status.ts}
    assert sorted(alert.text.split(" — ")[0] for alert in alerts) == [
        "❌ Bounced: ap@acme.example",
        "❌ Bounced: boss@acme.example",
    ]
    assert all("User unknown" in block_texts(alert.blocks) for alert in alerts)
    assert "❌ Bounced: ap@acme.example" in status.text and "❌ Bounced: boss@acme.example" in status.text
    assert len(fake_slack.calls_to("chat.postMessage")) == 3  # one status message, one alert per recipient
