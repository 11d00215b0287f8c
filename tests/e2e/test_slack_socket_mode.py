"""The whole story over Socket Mode: no public URL, the app holds a WebSocket to Slack.

The product serves exactly as `invoicebot run` does with `SLACK_APP_TOKEN` set
(`bot.runner.serve`: Bolt's AsyncSocketModeHandler, the web app and the loops); the fake
Slack answers `apps.connections.open` and pushes envelopes the way Slack does, checking the
acks. A dropped connection must be re-opened by the client, and what was sent meanwhile must
be delivered once it is back and handled exactly once (one email at the SMTP server).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.runner import serve
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import RequestOrigin, SlackUserRef, block_actions_body, button_click
from bot.sandbox.slack_socket import FakeSocketMode, SocketRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import Delivery, DeliveryStatus, Organisation
from tests.harness.mail import received_ids
from tests.harness.modals import open_review, submit
from tests.harness.reading import texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import bounce
from tests.harness.slack import ALICE, BOB, BOT_TOKEN, CHANNEL, TODAY, slack_settings
from tests.harness.waiting import until

APP_TOKEN = "xapp-1-A0INVOICEBOT-1-test-app-token"
APPROVERS_CHANNEL = "C0APPROVE"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN, team_id="T0OWN", socket_mode=FakeSocketMode(app_token=APP_TOKEN))
    api.add_channel(CHANNEL, "invoices")
    api.add_channel(APPROVERS_CHANNEL, "approvals")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer) -> Settings:
    return slack_settings(
        database_url,
        fake_slack,
        SLACK_APP_TOKEN=APP_TOKEN,
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_APPROVAL_POLICY="always",
        INVOICEBOT_APPROVERS="U0BOB",
        INVOICEBOT_APPROVERS_CHANNEL=APPROVERS_CHANNEL,
        INVOICEBOT_NOTIFY_CHANNEL=CHANNEL,
        INVOICEBOT_SECRET_KEY="test-secret",  # tests.harness.sending's VERP secret: its bounce matches
    )


@pytest.fixture
async def served(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    """`invoicebot run` in Socket Mode: serve() with the worker and the notifier, until the test ends."""
    runtime = bootstrap(settings, loops=[Loop.WORKER, Loop.NOTIFIER], seams=Seams(today=lambda: TODAY))
    assert runtime.worker is not None and runtime.notifier is not None
    runtime.worker.poll_interval, runtime.notifier.poll_interval = 0.2, 0.2
    task = asyncio.create_task(serve(runtime, host="127.0.0.1", port=0))
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        await runtime.aclose()


@pytest.fixture
async def socket_slack(fake_slack: FakeSlackApi, served: Runtime) -> SocketRequestClient:
    assert fake_slack.socket_mode is not None
    await fake_slack.socket_mode.wait_until(
        lambda: fake_slack.socket_mode is not None and fake_slack.socket_mode.connections == 1
    )
    return SocketRequestClient(fake_slack.socket_mode)


def approval_request(fake_slack: FakeSlackApi) -> tuple[str, dict[str, Any], str]:
    """The approval request's ts and its *Approve* button (element, block id)."""
    [request] = fake_slack.messages[APPROVERS_CHANNEL]
    [(element, block_id)] = [
        (element, block["block_id"])
        for block in request.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["text"]["text"] == "Approve"
    ]
    return request.ts, element, block_id


def approve_body(fake_slack: FakeSlackApi, user: SlackUserRef) -> str:
    ts, element, block_id = approval_request(fake_slack)
    return block_actions_body(
        action=button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url("approved"),
        message_ts=ts, origin=RequestOrigin(channel_id=APPROVERS_CHANNEL),
    )  # fmt: skip


async def ask_to_send(
    socket_slack: SocketRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    """`/invoices due`, *Review & send* on INV-0001, submit: the request waits for Bob's approval."""
    await seed_invoice(session, org)
    listing = await socket_slack.command("due", user=ALICE, response_url=fake_slack.response_url())
    assert "INV-0001" in " ".join(texts(listing.json()["blocks"]))  # the ack carried the list
    answer = await submit(socket_slack, await open_review(socket_slack, fake_slack, "INV-0001"), fake_slack=fake_slack)
    assert texts(answer["view"]["blocks"])[0].startswith("✋ *INV-0001* is waiting for approval by <@U0BOB>.")
    await fake_slack.wait_until(lambda: bool(fake_slack.messages.get(APPROVERS_CHANNEL)), within=10)


async def the_delivery(sessions: async_sessionmaker[AsyncSession]) -> Delivery:
    async with sessions() as fresh:
        return (await fresh.execute(select(Delivery))).scalar_one()


async def delivery_reaches(sessions: async_sessionmaker[AsyncSession], status: DeliveryStatus) -> Delivery:
    async def reached() -> bool:
        return (await the_delivery(sessions)).status == status

    await until(reached, within=15, what=f"the delivery is {status}")
    return await the_delivery(sessions)


async def one_email(smtp: ScriptedSmtpServer) -> None:
    await until(lambda: len(smtp.received) == 1, within=15, what="the approved email reaches the SMTP server")


async def bob_approves(socket_mode: FakeSocketMode, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer) -> str:
    """Bob clicks *Approve* (an `interactive` envelope); returns its envelope id once the email is out."""
    approve = await socket_mode.interaction(approve_body(fake_slack, BOB))
    await socket_mode.wait_acked(approve)
    await one_email(smtp)
    return approve


async def test_due_review_approve_send_and_a_bounce_alert_all_over_socket_mode(
    socket_slack: SocketRequestClient, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer,
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], org: Organisation,
):  # fmt: skip
    socket_mode = socket_slack.socket_mode
    await ask_to_send(socket_slack, fake_slack, session, org)

    await bob_approves(socket_mode, fake_slack, smtp)

    [received] = smtp.received
    email = message_from_bytes(received.data, policy=policy.default)
    assert isinstance(email, EmailMessage)
    assert email["To"] == "ap@acme.example" and "INV-0001" in str(email["Subject"])
    assert any(str(part.get_filename()).endswith(".pdf") for part in email.iter_attachments())
    delivery = await delivery_reaches(sessions, DeliveryStatus.ACCEPTED)
    assert delivery.message_id == email["Message-ID"]

    await bounce(sessions, delivery, "ap@acme.example")  # as the bounce mailbox reader records a DSN

    def alerts() -> list[str]:
        return [m.text for m in fake_slack.messages.get(CHANNEL, []) if m.text.startswith("❌ Bounced")]

    await until(lambda: bool(alerts()), within=15, what="the bounce alert is posted")
    [alert] = alerts()
    assert alert.startswith("❌ Bounced: ap@acme.example") and "INV-0001" in alert
    assert (await the_delivery(sessions)).status == DeliveryStatus.BOUNCED
    # Every envelope was acked (a slow ack would be redelivered, and the email count above shows a
    # redelivery is never handled twice); the app-level token opened the one connection.
    assert {envelope.envelope_id for envelope in socket_mode.envelopes} == {ack.envelope_id for ack in socket_mode.acks}
    assert [call.token for call in fake_slack.calls_to("apps.connections.open")] == [APP_TOKEN]


async def test_an_approval_sent_while_the_connection_is_down_is_delivered_after_reconnect_and_sent_once(
    socket_slack: SocketRequestClient, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer,
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], org: Organisation,
):  # fmt: skip
    socket_mode = socket_slack.socket_mode
    await ask_to_send(socket_slack, fake_slack, session, org)

    socket_mode.hold()  # the app's apps.connections.open waits: it stays offline
    await socket_mode.drop(hard=True)
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("apps.connections.open")) == 2, within=15)
    approve = await socket_mode.interaction(approve_body(fake_slack, BOB))
    await asyncio.sleep(0.3)
    assert socket_mode.delivered(approve) == [] and smtp.received == []  # nobody to deliver to yet

    socket_mode.release()
    await socket_mode.wait_acked(approve)
    await one_email(smtp)
    await asyncio.sleep(socket_mode.ack_timeout + 0.5)  # long enough for a redelivery, were one owed

    assert socket_mode.connections == 2
    assert socket_mode.delivered(approve)[0]["retry_attempt"] == 0  # first delivered after the reconnect
    assert list(received_ids(smtp).values()) == [1]
    assert (await delivery_reaches(sessions, DeliveryStatus.ACCEPTED)).message_id in received_ids(smtp)


async def test_an_approval_slack_delivers_again_after_a_late_ack_is_acked_and_not_handled_twice(
    socket_slack: SocketRequestClient, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer,
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], org: Organisation,
):  # fmt: skip
    socket_mode = socket_slack.socket_mode
    await ask_to_send(socket_slack, fake_slack, session, org)
    approve = await bob_approves(socket_mode, fake_slack, smtp)

    await socket_mode.redeliver(approve)
    await socket_mode.wait_until(lambda: len([a for a in socket_mode.acks if a.envelope_id == approve]) == 2)
    await asyncio.sleep(1.0)  # time for a second send, were the retry handled

    assert [m["retry_attempt"] for m in socket_mode.delivered(approve)][-1] == 1
    assert list(received_ids(smtp).values()) == [1]
    assert len(fake_slack.responses_to("approved")) == 1  # Bob was answered once
