"""The risk rule through Slack: an admin ticks it in the settings modal (stored, audited), the
review modal of a send to a customer's never-sent domain says an approver will be asked and why,
and the approval request the notifier posts in the approvers' channel gives the same reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from services.db.models import AuditLog, Delivery, DeliveryStatus, Organisation, OrganisationSettingsRow
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, state_values, texts
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, BOB, settings_with

APPROVERS_CHANNEL = "C0APPROVE"
REASON = "new domain acme.example for Acme Corp"
settings = settings_with(
    INVOICEBOT_ADMINS="U0ALICE",
    INVOICEBOT_APPROVERS="U0BOB",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
    INVOICEBOT_APPROVERS_CHANNEL=APPROVERS_CHANNEL,
)


async def _settings_modal(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    opened = len(fake_slack.calls_to("views.open"))
    assert (await slack.command("settings", user=ALICE, response_url=fake_slack.response_url())).status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    view: dict[str, Any] = fake_slack.calls_to("views.open")[-1].args["view"]
    return view


async def _drain(settings: Settings) -> None:
    """Pay the Slack posts owed with the notifier production builds from these settings."""
    runtime = bootstrap(settings, loops=[Loop.NOTIFIER])
    assert runtime.notifier is not None
    try:
        for _ in range(5):
            if not await runtime.notifier.drain_once():
                return
    finally:
        await runtime.aclose()


async def test_an_admin_turns_the_risk_rule_on_and_the_review_and_the_approval_request_say_why(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    fake_slack.add_channel(APPROVERS_CHANNEL, "approvals")  # the bot is a member: the settings modal checks
    await seed_invoice(session, org)
    view = await _settings_modal(slack, fake_slack)
    assert not input_blocks(view)["set_approve_new_recipients"]["element"].get("initial_options")

    answer = await slack.submit(view, state_values(view, set_approve_new_recipients=True), user=ALICE)

    assert answer.status_code == 200 and answer.json()["response_action"] == "update", answer.text
    session.expire_all()
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    assert row.approve_new_recipients is True
    audit = (await session.execute(select(AuditLog).where(AuditLog.action == "settings_changed"))).scalar_one()
    assert audit.actor == "U0ALICE" and audit.detail["changes"]["approve_new_recipients"] == [False, True]

    review = await open_review(slack, fake_slack, "INV-0001")

    assert f"🛂 An approver will be asked: {REASON}" in texts(review["blocks"])
    await submit(slack, review, fake_slack=fake_slack)
    session.expire_all()
    delivery = (await session.execute(select(Delivery))).scalar_one()
    assert delivery.status == DeliveryStatus.AWAITING_APPROVAL

    await _drain(settings)

    [request] = fake_slack.messages[APPROVERS_CHANNEL]
    shown = texts(request.blocks)
    assert shown[0] == "✋ *Approval needed* to send invoice *INV-0001*"
    assert shown[1] == f"🛂 *Approval asked:* {REASON}", shown

    [approve] = [
        (element, block["block_id"])
        for block in request.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["text"]["text"] == "Approve"
    ]
    clicked = await slack.click(
        button_click(approve[0], block_id=approve[1]), user=BOB, response_url=fake_slack.response_url("bob"),
        channel_id=APPROVERS_CHANNEL, message_ts=request.ts,
    )  # fmt: skip
    assert clicked.status_code == 200
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("bob")))
    await _drain(settings)

    assert request.edits == 1, "the request message is rewritten once decided"
    decided = texts(request.blocks)
    assert decided[1] == f"🛂 *Approval asked:* {REASON}", "the decided request still says why it was asked"
    assert decided[-1].startswith("✅ Approved by <@U0BOB> at ")
