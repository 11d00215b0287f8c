"""*Cancel* on a send's status message: signed clicks to the real app, the real notifier, the rows checked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, button_click
from services.db.models import AuditLog, Delivery, Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import texts
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, settings_with

DAVE = SlackUserRef(id="U0DAVE", team_id="T0OWN", name="dave")  # neither the asker, an approver nor an admin
APPROVERS_CHANNEL = "C0APPROVE"

settings = settings_with(
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS="U0BOB",
    INVOICEBOT_APPROVERS_CHANNEL=APPROVERS_CHANNEL,
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)


async def drain(settings: Settings) -> None:
    runtime = bootstrap(settings, loops=[Loop.NOTIFIER])
    assert runtime.notifier is not None
    try:
        for _ in range(5):
            if not await runtime.notifier.drain_once():
                return
    finally:
        await runtime.aclose()


def status_message(fake_slack: FakeSlackApi) -> StoredMessage:
    """The send's status message: the first post outside the approvers' channel (thread replies follow it)."""
    return next(m for channel, ms in fake_slack.messages.items() if channel != APPROVERS_CHANNEL for m in ms)


def thread_replies(fake_slack: FakeSlackApi, message: StoredMessage) -> list[str]:
    calls = fake_slack.calls_to("chat.postMessage")
    return [str(call.args["text"]) for call in calls if call.args.get("thread_ts") == message.ts]


def cancel_button(message: StoredMessage) -> tuple[dict[str, Any], str] | None:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == "delivery_cancel":
                return element, block["block_id"]
    return None


async def click_cancel(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef, key: str) -> str:
    found = cancel_button(status_message(fake_slack))
    assert found is not None
    element, block_id = found
    await slack.click(button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url(key))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(key)))
    [answer] = fake_slack.responses_to(key)
    assert answer.body["response_type"] == "ephemeral"
    return str(answer.body["text"])


async def waiting_send(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
) -> None:
    await seed_invoice(session, org)
    await submit(slack, await open_review(slack, fake_slack, "INV-0001"), fake_slack=fake_slack)
    await drain(settings)


async def test_the_asker_cancels_a_send_waiting_for_approval_and_others_may_not(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
) -> None:
    await waiting_send(slack, fake_slack, session, org, settings)
    found = cancel_button(status_message(fake_slack))
    assert found is not None and found[0]["confirm"]["confirm"]["text"] == "Cancel the send"

    refused = await click_cancel(slack, fake_slack, DAVE, "dave")
    assert "cancel" in refused.lower() and "only" in refused
    assert (await session.scalar(select(Delivery.status))) == "awaiting_approval"

    answer = await click_cancel(slack, fake_slack, ALICE, "alice")
    await drain(settings)

    assert answer == "🚫 <@U0ALICE> cancelled the send of *INV-0001*: no email goes out."
    session.expire_all()
    assert (await session.scalar(select(Delivery.status))) == "cancelled"
    audit = (await session.execute(select(AuditLog.actor).where(AuditLog.action == "delivery.cancelled"))).all()
    assert audit == [(ALICE.id,)]
    message = status_message(fake_slack)
    assert "🚫 Cancelled — nothing was sent" in texts(message.blocks)
    assert cancel_button(message) is None, "a cancelled send offers no Cancel"
    assert thread_replies(fake_slack, message) == ["🚫 <@U0ALICE> cancelled the send of *INV-0001*. No email was sent."]


async def test_cancel_once_the_worker_took_the_send_says_it_is_too_late(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
) -> None:
    await waiting_send(slack, fake_slack, session, org, settings)
    await session.execute(update(Delivery).values(status="sending"))  # the worker claimed it meanwhile
    await session.commit()

    answer = await click_cancel(slack, fake_slack, ALICE, "late")

    assert answer == "The email of INV-0001 is sending, so it can no longer be cancelled."
    session.expire_all()
    assert (await session.scalar(select(Delivery.status))) == "sending"
