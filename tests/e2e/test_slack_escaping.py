"""Untrusted text never mentions, links or formats in Slack, whichever message carries it.

A customer named like an attacker would name it, an invoice line saying the same, and a
bounce whose remote diagnostic carries `<!here>` go through every message the bot posts —
the due list, show, sent, problems, the status message, the bounce alert, the approval
request and its decision, the App Home and the fix-address modal — and everything the fake
Slack Web API received (chat.*, views.*, response_url bodies, command answers) is read back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from bot.sandbox.smtp_server import ScriptedSmtpServer
from handlers.blocks.elements import escape
from handlers.ids import ActionId
from handlers.parsing import DueListing
from services.authorization import ApprovalRules
from services.db.models import InvoiceLine, InvoiceStatus, Organisation, utcnow
from services.email.smtp import SmtpTransport
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from services.tracking.event_types import IncomingEvent
from services.tracking.events import record_delivery_event
from tests import factories
from tests.harness.reading import channel_messages
from tests.harness.requesting import send_context
from tests.harness.sending import SECRET, make_worker
from tests.harness.slack import ALICE, BOB, CHANNEL, settings_with

pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


CUSTOMER_NAME = "<!channel> *pay* <https://evil.example|Click here>"
LINE = "<!subteam^S0FINANCE> _urgent_ ~void~ `run` <@U0BOSS>"
DIAGNOSTIC = "smtp; 550 5.1.1 <!here> user unknown, see <https://evil.example/fix|the fix> *now*"
# What must never reach Slack as is: each would mention, link or format.
RAW = ("<!channel>", "<!here>", "<!subteam", "<https://evil.example", "<@U0BOSS>", "*pay*", "*now*", "_urgent_",
       "~void~", "`run`")  # fmt: skip


# A notify channel and "always ask an approver" (Bob), so the approval request is posted too.
settings = settings_with(
    INVOICEBOT_NOTIFY_CHANNEL=CHANNEL, INVOICEBOT_APPROVAL_POLICY="always", INVOICEBOT_APPROVERS=BOB.id
)


def everything_slack_received(fake_slack: FakeSlackApi, answers: list[dict[str, Any]]) -> str:
    """Every Web API call's arguments, every response_url body and every command's HTTP answer."""
    received: list[Any] = [call.args for call in fake_slack.calls]
    received += [post.body for post in fake_slack.responses]
    received += answers
    return "\n".join(json.dumps(item, ensure_ascii=False) for item in received)


async def _seed(session: AsyncSession, org: Organisation) -> None:
    acme = await factories.customer(session, org.id, name=CUSTOMER_NAME)
    await factories.invoice(session, org.id, acme, number="INV-0001")
    await session.execute(update(InvoiceLine).values(description=LINE))
    await session.commit()


async def _ask_for_approval(session: AsyncSession, org: Organisation) -> int:
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0001", to=("ap@acme.example",), subject="Invoice", message="Hi", requested_by=ALICE.id
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(
            rules=ApprovalRules(approvers=frozenset({BOB.id}), policy="always"),
            now=utcnow(),
            domain="example.com",
            secret=SECRET,
        ),
    )
    await session.commit()
    return outcome.delivery.id


async def _bounce(sessions: async_sessionmaker[AsyncSession], verp_token: str) -> None:
    async with sessions() as events:
        await record_delivery_event(
            events,
            event=IncomingEvent(
                source="dsn", type="bounced", recipient="ap@acme.example", occurred_at=utcnow(),
                source_event_id="dsn-1", raw="", bounce_kind="hard", status_code="5.1.1", diagnostic=DIAGNOSTIC,
                verp_token=verp_token,
            ),
            now=utcnow(),
            verp_secret=SECRET,
        )  # fmt: skip
        await events.commit()


async def _command(slack: SlackRequestClient, fake_slack: FakeSlackApi, text: str) -> dict[str, Any]:
    response = await slack.command(text, user=ALICE, response_url=fake_slack.response_url(text))
    assert response.status_code == 200
    return response.json() if response.content else {}


async def test_untrusted_text_reaches_every_slack_message_escaped_never_as_a_mention_link_or_format(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    smtp: ScriptedSmtpServer,
    transport: SmtpTransport,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
    slack: SlackRequestClient,
):
    await _seed(session, org)
    answers = [await _command(slack, fake_slack, "due")]
    await _command(slack, fake_slack, "show INV-0001")
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show INV-0001")) == 1)

    delivery_id = await _ask_for_approval(session, org)
    await notifier.drain_once()  # the approval request and the status message
    approve = {"type": "button", "action_id": ActionId.APPROVE_DELIVERY, "block_id": "a", "value": str(delivery_id)}
    await slack.click(approve, user=BOB, response_url=fake_slack.response_url("approve"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("approve")) == 1)
    await notifier.drain_once()  # the decision and the status message updated
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()  # accepted

    verp_token = (await factories.reload_delivery(sessions, delivery_id)).verp_token
    await _bounce(sessions, verp_token)
    for _ in range(3):  # the alert, then the status message rewritten
        await notifier.drain_once()
    [(alert, actions)] = [
        (message, block) for message in channel_messages(fake_slack) for block in message.blocks
        if block["type"] == "actions" and block["block_id"].startswith("delivery_alert")
    ]  # fmt: skip
    for element in actions["elements"]:
        if element["action_id"] in (ActionId.FIX_ADDRESS_AND_RESEND, ActionId.OPEN_INVOICE):
            key = f"alert-{element['action_id']}"
            click = button_click(element, block_id=actions["block_id"])
            url = fake_slack.response_url(key)
            await slack.click(click, user=ALICE, response_url=url, channel_id=CHANNEL, message_ts=alert.ts)
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.open")))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(f"alert-{ActionId.OPEN_INVOICE}")))
    answers.append(await _command(slack, fake_slack, "sent"))
    answers.append(await _command(slack, fake_slack, "problems"))
    await slack.event({"type": "app_home_opened", "user": ALICE.id, "tab": "home"})
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.publish")))

    received = everything_slack_received(fake_slack, answers)
    assert [raw for raw in RAW if raw in received] == []
    # ...and the payload did reach every kind of message, escaped (so this test can fail)
    for surface in (
        answers[0],  # /invoices due
        fake_slack.responses_to("show INV-0001")[0].body,
        answers[1],  # sent
        answers[2],  # problems
        fake_slack.calls_to("views.open")[0].args,  # the fix-address modal
    ):
        assert escape(CUSTOMER_NAME) in json.dumps(surface, ensure_ascii=False)
    assert escape(LINE) in json.dumps(fake_slack.responses_to("show INV-0001")[0].body, ensure_ascii=False)
    posted = {call.args.get("text", "") for call in fake_slack.calls if call.method.startswith("chat.")}
    assert any(text.startswith("Approval needed") and escape(CUSTOMER_NAME) in text for text in posted)
    assert any("Bounced" in text and "&lt;!here&gt;" in text for text in posted)  # the status message's fallback text
    assert "&lt;!here&gt;" in json.dumps(alert.blocks, ensure_ascii=False)


async def test_a_refusal_quoting_an_untrusted_invoice_number_answers_it_escaped(
    session: AsyncSession, org: Organisation, fake_slack: FakeSlackApi, slack: SlackRequestClient
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-<!here>", status=InvoiceStatus.PAID)
    await session.commit()
    click = {
        "type": "overflow",
        "action_id": ActionId.INVOICE_MENU,
        "block_id": DueListing(page=1, customer=None).row_block_id(0),
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": "mark_sent:INV-<!here>"},
    }

    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("refused"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("refused")) == 1)

    [answer] = fake_slack.responses_to("refused")
    assert answer.body["text"] == "Invoice INV-&lt;!here&gt; is already paid and cannot be marked as sent."
