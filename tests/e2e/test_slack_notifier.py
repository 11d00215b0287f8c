"""The notification loop through the real `slack_sdk` client against the fake Slack Web API.

Sends are created by the real services and sent by the real worker to a scripted SMTP
server on 127.0.0.1; the assertions read what the fake Slack holds (messages, edits,
threads) and what the database says.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.authorization import ApprovalRules
from services.db.models import Delivery, DeliveryStatus, NotificationStatus, Organisation, utcnow
from services.email.smtp import SmtpTransport
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.notifying import notifications_of
from tests.harness.reading import block_texts, channel_messages
from tests.harness.requesting import send_context
from tests.harness.sending import make_worker, queue_delivery, reload
from tests.harness.slack import ALICE, BOB, BOT_TOKEN, CHANNEL, settings_with

# The e2e settings plus a notify channel and "always ask an approver" (Bob approves).
settings = settings_with(
    INVOICEBOT_NOTIFY_CHANNEL=CHANNEL, INVOICEBOT_APPROVAL_POLICY="always", INVOICEBOT_APPROVERS=BOB.id
)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


async def restart_on_same_port(api: FakeSlackApi, port: int) -> None:
    """Bring the stopped fake API back where the client expects it, as Slack comes back after an outage."""
    app = web.Application()
    app.router.add_route("*", "/api/{method}", api._api)
    app.router.add_post("/response/{key}", api._response_url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, api.host, port).start()
    api._runner = runner


async def test_each_send_has_one_status_message_that_is_updated_in_place_from_queued_to_accepted(
    session, sessions, org, fake_slack, notifier, smtp, transport
):
    delivery = await queue_delivery(session, org)

    assert await notifier.drain_once() == 1
    [message] = channel_messages(fake_slack)
    assert message.text.startswith("Invoice INV-0001 to ap@acme.example: ⏳ Queued")
    assert "*Invoice INV-0001* · Acme Corp · €120.00" in block_texts(message.blocks)

    await make_worker(sessions, transport).drain()
    assert await notifier.drain_once() == 1
    assert await notifier.drain_once() == 0  # nothing owed any more

    [message] = channel_messages(fake_slack)
    [received] = smtp.received
    assert "✅ Sent to ap@acme.example — accepted by the mail server: 250" in message.text
    assert received.queue_id in message.text
    assert message.edits == 1
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    stored = await reload(sessions, delivery.id)
    assert (stored.slack_channel, stored.slack_ts) == (CHANNEL, message.ts)


async def test_a_429_is_honoured_with_its_retry_after_and_the_message_lands_once(
    session, sessions, org, fake_slack, notifier, clock
):
    delivery = await queue_delivery(session, org)
    fake_slack.fail_next("chat.postMessage", times=1, retry_after=30)

    assert await notifier.drain_once() == 0
    [row] = await notifications_of(sessions, delivery.id)
    assert row.status == NotificationStatus.PENDING
    assert row.last_error == "ratelimited: HTTP 429"
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=29)

    clock.ahead = timedelta(seconds=20)
    assert await notifier.drain_once() == 0  # Slack said 30 seconds: not before
    assert len(fake_slack.calls_to("chat.postMessage")) == 1

    clock.ahead = timedelta(seconds=31)
    assert await notifier.drain_once() == 1
    assert len(channel_messages(fake_slack)) == 1
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    [row] = await notifications_of(sessions, delivery.id)
    assert row.status == NotificationStatus.POSTED


async def test_a_slack_outage_loses_nothing_and_every_post_lands_once_it_is_back(
    session, sessions, org, fake_slack, notifier, clock
):
    first = await queue_delivery(session, org, number="INV-0001")
    second = await queue_delivery(session, org, number="INV-0002")
    port = int(fake_slack.base_url.split(":")[2].split("/")[0])
    await fake_slack.stop()

    assert await notifier.drain_once() == 0
    for delivery in (first, second):
        [row] = await notifications_of(sessions, delivery.id)
        assert row.status == NotificationStatus.PENDING
        assert (row.last_error or "").startswith("Slack unreachable")

    await restart_on_same_port(fake_slack, port)
    clock.ahead = timedelta(minutes=1)
    assert await notifier.drain_once() == 2
    assert sorted(m.text.split(" to ")[0] for m in channel_messages(fake_slack)) == [
        "Invoice INV-0001",
        "Invoice INV-0002",
    ]


async def test_a_channel_the_bot_is_not_in_is_logged_once_and_the_post_is_kept(
    session, sessions, org, fake_slack, notifier, clock, caplog
):
    await queue_delivery(session, org)
    fake_slack.fail_next("chat.postMessage", times=2, error="not_in_channel")
    caplog.set_level(logging.WARNING, logger="invoicebot.notifier")

    assert await notifier.drain_once() == 0
    clock.ahead = timedelta(minutes=1)
    assert await notifier.drain_once() == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"Slack refused a post to channel {CHANNEL}: not_in_channel. Invite the bot to the channel or fix its "
        "token; the post is kept and retried."
    ]
    assert BOT_TOKEN not in caplog.text

    clock.ahead = timedelta(minutes=5)
    assert await notifier.drain_once() == 1
    assert len(channel_messages(fake_slack)) == 1


async def test_an_invoice_approved_in_slack_arrives_once_well_formed_and_its_status_says_accepted(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    fake_slack: FakeSlackApi,
    slack: SlackRequestClient,
    notifier: Notifier,
    smtp: ScriptedSmtpServer,
    transport: SmtpTransport,
):
    """Issue 4's first "Done when", with the approval clicked in Slack by someone else."""
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0100")
    await session.commit()
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0100",
            to=("ap@acme.example",),
            subject="Invoice INV-0100",
            message="Dear Acme,\n\nplease find invoice INV-0100 attached.\n",
            requested_by=ALICE.id,
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(
            rules=ApprovalRules(approvers=frozenset({BOB.id}), policy="always"),
            now=utcnow(),
            domain="example.com",
            secret=b"test-secret",
        ),
    )
    await session.commit()
    delivery_id = outcome.delivery.id

    assert await notifier.drain_once() == 2  # the status message and the approval request
    status, request = channel_messages(fake_slack)
    assert "⏳ Waiting for approval" in status.text
    [actions] = [block for block in request.blocks if block["type"] == "actions"]
    approve = next(e for e in actions["elements"] if e["text"]["text"] == "Approve")

    clicked = await slack.click(
        button_click(approve, block_id=actions["block_id"]),
        user=BOB,
        response_url=fake_slack.response_url("approve"),
        channel_id=CHANNEL,
        message_ts=request.ts,
    )
    assert clicked.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("approve")) == 1)
    assert (await reload(sessions, delivery_id)).status == DeliveryStatus.QUEUED

    await make_worker(sessions, transport).drain()
    assert await notifier.drain_once() >= 2  # the decision and the new status

    [received] = smtp.received
    email = BytesParser(policy=policy.default).parsebytes(received.data)
    assert received.recipients == ["ap@acme.example"]
    assert email["Subject"] == "Invoice INV-0100"
    assert email["Message-ID"] == outcome.delivery.message_id
    assert {part.get_filename() for part in email.iter_attachments()} == {"INV-0100.pdf"}
    assert "please find invoice INV-0100 attached" in factories.body_text(email, "plain")

    status, request = channel_messages(fake_slack)
    assert "✅ Sent to ap@acme.example — accepted by the mail server: 250" in status.text
    assert received.queue_id in status.text
    assert f"approved by <@{BOB.id}>" in block_texts(status.blocks)
    assert f"Approved by <@{BOB.id}>" in block_texts(request.blocks)
    assert not [block for block in request.blocks if block["type"] == "actions"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    async with sessions() as check:
        [stored] = (await check.execute(select(Delivery).where(Delivery.id == delivery_id))).scalars()
        assert stored.approved_by == BOB.id and stored.slack_ts == status.ts
