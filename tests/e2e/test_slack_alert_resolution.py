"""Alerts are resolved in place, and their buttons only act on a problem that is still open.

Real SMTP (scripted aiosmtpd), the real worker and notifier, the real web app with signed
requests, the fake Slack Web API the real slack_sdk client talks to.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from sqlalchemy import select

from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from handlers.ids import ActionId, BlockId
from services.authorization import ApprovalRules
from services.db.models import (
    AuditLog,
    Customer,
    Delivery,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Suppression,
    utcnow,
)
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.modals import FIX_QUEUED, alert_button, submit_fix
from tests.harness.reading import channel_messages, fix_notice, input_blocks, state_values
from tests.harness.requesting import send_context
from tests.harness.sending import SECRET, bounce, failed_send, make_worker, queue_delivery, reload, reported_delivered
from tests.harness.slack import ALICE, CHANNEL, NOTIFYING, settings_with

# The e2e settings plus a notify channel and a VERP key.
settings = settings_with(**NOTIFYING)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


def message_at(fake_slack: FakeSlackApi, ts: str) -> StoredMessage:
    [found] = [m for m in channel_messages(fake_slack) if m.ts == ts]
    return found


def has_buttons(message: StoredMessage) -> bool:
    return any(block["type"] == "actions" for block in message.blocks)


def read(message: StoredMessage) -> str:
    return "\n".join(b["text"]["text"] for b in message.blocks if isinstance(b.get("text"), dict))


async def click(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, alert: StoredMessage, label: str, key: str
) -> None:
    await slack.click(
        alert_button(alert, label), user=ALICE, response_url=fake_slack.response_url(key), channel_id=CHANNEL,
        message_ts=alert.ts,
    )  # fmt: skip


async def open_fix_modal(slack, fake_slack, alert: StoredMessage) -> dict[str, Any]:
    opened = len(fake_slack.calls_to("views.open"))
    await click(slack, fake_slack, alert, "Fix address & resend", "fix")
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    return dict([*fake_slack.views.values()][-1])  # as Slack stores it, with its id


async def test_mark_as_sent_manually_from_a_bounce_alert_marks_the_invoice_and_resolves_the_alert_in_place(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0009")
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    await bounce(sessions, delivery, "ap@acme.example")
    await notifier.drain_once()
    [_status, alert] = channel_messages(fake_slack)
    assert has_buttons(alert) and alert.text.startswith("❌ Bounced: ap@acme.example")

    await click(slack, fake_slack, alert, "Mark as sent manually", "mark")
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("mark")) == 1)
    assert fake_slack.responses_to("mark")[0].body["text"] == "INV-0009 marked as sent"
    async with sessions() as check:
        invoice = await check.get(Invoice, delivery.invoice_id)
        assert invoice is not None
        assert (invoice.status, invoice.sent_via, invoice.sent_by) == (InvoiceStatus.SENT, "manual", ALICE.id)
        audit = (await check.execute(select(AuditLog).where(AuditLog.action == "invoice.sent"))).scalar_one()
    assert audit.actor == ALICE.id and audit.detail["via"] == "manual"

    await notifier.drain_once()
    [update] = [c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == alert.ts]
    assert not any(block["type"] == "actions" for block in update.args["blocks"])
    resolved = message_at(fake_slack, alert.ts)
    assert not has_buttons(resolved)
    assert f"✅ Resolved by <@{ALICE.id}>: marked as sent manually" in read(resolved)
    await notifier.drain_once()
    assert len([c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == alert.ts]) == 1  # rewritten once


async def test_an_accepted_fix_and_resend_resolves_the_old_alert_and_a_stale_click_says_who_and_when(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)
    stale_button = alert_button(alert, "Fix address & resend")  # as first posted (the fake edits in place)
    modal = await open_fix_modal(slack, fake_slack, alert)
    accepted = await submit_fix(slack, fake_slack, modal, state_values(modal, fix_emails="accounts@acme.example"))
    assert [b["text"]["text"] for b in accepted["view"]["blocks"]] == FIX_QUEUED
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()  # the resend's status message says accepted: the rewrite is owed
    await notifier.drain_once()

    resolved = message_at(fake_slack, alert.ts)
    assert not has_buttons(resolved)
    assert f"✅ Resolved by <@{ALICE.id}>: resent to accounts@acme.example, accepted" in read(resolved)

    await slack.click(stale_button, user=ALICE, response_url=fake_slack.response_url("stale"), channel_id=CHANNEL)
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("stale")) == 1)
    [answer] = fake_slack.responses_to("stale")
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["text"].startswith(f"This alert about INV-0007 was already resolved by <@{ALICE.id}> at ")
    assert answer.body["text"].endswith(" UTC: resent to accounts@acme.example, accepted.")
    assert len(fake_slack.calls_to("views.open")) == 1
    async with sessions() as check:
        assert len(list((await check.execute(select(Delivery))).scalars())) == 2
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.FAILED


async def test_the_fix_modal_refuses_a_delivered_delivery(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0010")
    await make_worker(sessions, transport).drain()
    await reported_delivered(sessions, delivery, "pm-delivered")
    button = {"type": "button", "action_id": ActionId.FIX_ADDRESS_AND_RESEND, "value": str(delivery.id)}
    await slack.click(
        button_click(button, block_id=f"{BlockId.DELIVERY_ALERT}:{delivery.id}"),
        user=ALICE,
        response_url=fake_slack.response_url("fix"),
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("fix")) == 1)
    assert fake_slack.responses_to("fix")[0].body["text"] == (
        "The email of INV-0010 was delivered: there is nothing to fix."
    )
    assert not fake_slack.calls_to("views.open")


async def test_the_fix_modal_shows_the_cc_and_the_resend_goes_to_the_cc_as_edited(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    smtp.script.reply_rcpt["ap@acme.example"] = "550 5.1.1 <ap@acme.example>: Recipient address rejected"
    smtp.script.reply_rcpt["finance@acme.example"] = "550 5.1.1 <finance@acme.example>: Recipient address rejected"
    owner = await factories.customer(session, org.id, ref="ACME")
    await factories.invoice(session, org.id, owner, number="INV-0012")
    await session.commit()
    await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0012",
            to=("ap@acme.example",),
            cc=("finance@acme.example",),
            subject="Invoice INV-0012",
            message="Please find it attached.",
            requested_by="U_ALICE",
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=SECRET),
    )
    await session.commit()
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    alert = next(m for m in channel_messages(fake_slack) if has_buttons(m))

    modal = await open_fix_modal(slack, fake_slack, alert)
    fields = input_blocks(modal)
    assert fields[BlockId.FIX_CC]["element"]["initial_value"] == "finance@acme.example"
    assert fields[BlockId.FIX_EMAILS]["element"]["initial_value"] == "ap@acme.example"
    assert BlockId.FIX_RESEND not in fields  # failed at the server: nothing was sent, nothing to ask

    typed = state_values(modal, fix_emails="accounts@acme.example", fix_cc="controller@acme.example")
    answer = await submit_fix(slack, fake_slack, modal, typed)
    assert [b["text"]["text"] for b in answer["view"]["blocks"]] == FIX_QUEUED
    smtp.script.reply_rcpt.clear()
    await make_worker(sessions, transport).drain()

    [received] = smtp.received
    assert received.recipients == ["accounts@acme.example", "controller@acme.example"]
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert (message["To"], message["Cc"]) == ("accounts@acme.example", "controller@acme.example")


async def test_the_fix_modal_of_a_bounce_offers_the_suppression_override_the_send_needs(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0013", to=("ap@acme.example", "boss@acme.example"))
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    await bounce(sessions, delivery, "ap@acme.example")
    await notifier.drain_once()
    alert = next(m for m in channel_messages(fake_slack) if has_buttons(m))

    modal = await open_fix_modal(slack, fake_slack, alert)
    fields = input_blocks(modal)
    override = fields[BlockId.FIX_OVERRIDE]["element"]["options"][0]
    assert "ap@acme.example is on the suppression list (bounced permanently on " in override["description"]["text"]
    refused = await submit_fix(slack, fake_slack, modal, state_values(modal))  # the bounced address kept, not ticked
    assert "tick 'send anyway' to override" in fix_notice(refused["view"])
    assert BlockId.FIX_OVERRIDE in input_blocks(refused["view"])
    sent = await submit_fix(slack, fake_slack, modal, state_values(modal, fix_override=True))
    assert [b["text"]["text"] for b in sent["view"]["blocks"]] == FIX_QUEUED
    async with sessions() as check:
        resend = (await check.execute(select(Delivery).where(Delivery.id != delivery.id))).scalar_one()
    assert (resend.to, resend.override_suppression) == (["ap@acme.example", "boss@acme.example"], True)


async def test_the_fix_modal_of_an_email_that_may_have_arrived_asks_before_sending_again(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    smtp.script.drop_after_data = True
    await queue_delivery(session, org, number="INV-0014")
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    alert = next(m for m in channel_messages(fake_slack) if has_buttons(m))

    modal = await open_fix_modal(slack, fake_slack, alert)
    assert BlockId.FIX_RESEND in input_blocks(modal)
    assert any("INV-0014 may have arrived" in b["text"]["text"] for b in modal["blocks"] if "text" in b)
    refused = await submit_fix(slack, fake_slack, modal, state_values(modal))
    assert fix_notice(refused["view"]) == "⚠️ Tick “Send again anyway” to send it again."
    sent = await submit_fix(slack, fake_slack, modal, state_values(modal, fix_resend=True))
    assert [b["text"]["text"] for b in sent["view"]["blocks"]] == FIX_QUEUED
    async with sessions() as check:
        assert len(list((await check.execute(select(Delivery))).scalars())) == 2


async def test_an_email_in_doubt_reported_delivered_resolves_its_alert_in_place(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    smtp.script.drop_after_data = True
    delivery = await queue_delivery(session, org, number="INV-0015")
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    alert = next(m for m in channel_messages(fake_slack) if has_buttons(m))
    assert alert.text.startswith("❓ Unknown")

    await reported_delivered(sessions, delivery, "pm-late")
    await notifier.drain_once()  # the status message says delivered: the rewrite is owed
    await notifier.drain_once()

    resolved = message_at(fake_slack, alert.ts)
    assert not has_buttons(resolved)
    assert "✅ Resolved: the email was delivered" in read(resolved)


async def test_a_suppressed_address_typed_in_the_fix_modal_brings_the_override_keeping_to_and_cc_as_typed(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    _delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)
    session.add(Suppression(organisation_id=org.id, email="old@acme.example", reason="complaint"))
    await session.commit()
    modal = await open_fix_modal(slack, fake_slack, alert)
    assert BlockId.FIX_OVERRIDE not in input_blocks(modal)

    typed = state_values(modal, fix_emails="old@acme.example", fix_cc="copy@acme.example")
    answer = await submit_fix(slack, fake_slack, modal, typed)

    assert answer["response_action"] == "update"
    rebuilt = input_blocks(answer["view"])
    assert rebuilt[BlockId.FIX_EMAILS]["element"]["initial_value"] == "old@acme.example"
    assert rebuilt[BlockId.FIX_CC]["element"]["initial_value"] == "copy@acme.example"
    assert "old@acme.example is on the suppression list" in str(rebuilt[BlockId.FIX_OVERRIDE])
    async with sessions() as check:
        assert await check.scalar(select(Customer.emails)) == ["ap@acme.example"]  # nothing saved
        assert len(list((await check.execute(select(Delivery))).scalars())) == 1
