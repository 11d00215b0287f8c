"""Approvals in Slack: the request in the approvers' channel, four eyes, one decision, the message updated.

The whole way through the real web app and the real notifier: a review submission
creates a delivery waiting for approval, the notifier posts the request, signed clicks
on its buttons decide, and the notifier rewrites the request message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, button_click
from services.db.models import Approval, AuditLog, Delivery, Notification, Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import texts
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, BOB, settings_with

CAROL = SlackUserRef(id="U0CAROL", team_id="T0OWN", name="carol")
DAVE = SlackUserRef(id="U0DAVE", team_id="T0OWN", name="dave")
APPROVERS_CHANNEL = "C0APPROVE"


# The e2e settings with a policy: every send needs Bob's or Carol's approval.
settings = settings_with(
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS="U0BOB,U0CAROL",
    INVOICEBOT_APPROVERS_CHANNEL=APPROVERS_CHANNEL,
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)


async def drain(settings: Settings) -> None:
    """Pay the Slack posts owed with the notifier production builds from these settings."""
    runtime = bootstrap(settings, loops=[Loop.NOTIFIER])
    assert runtime.notifier is not None
    try:
        for _ in range(5):
            if not await runtime.notifier.drain_once():
                return
    finally:
        await runtime.aclose()


async def request_waiting_send(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
) -> dict[str, Any]:
    """Alice asks to send INV-0001; returns the approval request message as posted in the channel."""
    await seed_invoice(session, org)
    answer = await submit(slack, await open_review(slack, fake_slack, "INV-0001"), fake_slack=fake_slack)
    assert texts(answer["view"]["blocks"])[0].startswith(
        "✋ *INV-0001* is waiting for approval by <@U0BOB>, <@U0CAROL>."
    )
    await drain(settings)
    [request] = fake_slack.messages[APPROVERS_CHANNEL]
    assert not [line for line in texts(request.blocks) if "Approval asked" in line], "the policy asked, not the rule"
    return {"ts": request.ts, "blocks": request.blocks, "message": request}


def approval_buttons(blocks: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    return {
        element["text"]["text"]: (element, block["block_id"])
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def click(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, request: dict[str, Any], label: str, user: SlackUserRef
) -> str:
    """`user` clicks `label` on the request; returns the ephemeral answer they read."""
    element, block_id = approval_buttons(request["blocks"])[label]
    key = f"{user.id}-{label}-{len(fake_slack.responses)}"
    response = await slack.click(
        button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url(key),
        channel_id=APPROVERS_CHANNEL, message_ts=request["ts"],
    )  # fmt: skip
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(key)))
    [answer] = fake_slack.responses_to(key)
    assert answer.body["response_type"] == "ephemeral"
    return str(answer.body["text"])


async def the_delivery(session: AsyncSession) -> tuple[Delivery, Approval]:
    session.expire_all()
    delivery = (await session.execute(select(Delivery))).scalar_one()
    approval = (await session.execute(select(Approval))).scalar_one()
    return delivery, approval


async def test_a_send_needing_approval_posts_approve_and_reject_in_the_approvers_channel(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)

    delivery, approval = await the_delivery(session)
    assert (delivery.status, approval.decision) == ("awaiting_approval", "pending")
    read = texts(request["blocks"])
    assert read[0] == "✋ *Approval needed* to send invoice *INV-0001*"
    assert "*Invoice:* INV-0001 · Acme Corp · *€1,440.60*" in read[1]
    assert "*To:* ap@acme.example" in read[1] and "*Requested by* <@U0ALICE>" in read[1]
    buttons = approval_buttons(request["blocks"])
    assert {label: (e["style"], e["value"]) for label, (e, _) in buttons.items()} == {
        "Approve": ("primary", str(delivery.id)),
        "Reject": ("danger", str(delivery.id)),
    }


async def test_the_requester_cannot_approve_their_own_send(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)

    answer = await click(slack, fake_slack, request, "Approve", ALICE)

    assert answer == "You asked for this send, so someone else must approve it."
    delivery, approval = await the_delivery(session)
    assert (delivery.status, approval.decision) == ("awaiting_approval", "pending")


async def test_a_non_approver_is_told_they_cannot_approve_and_nothing_changes(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)

    answer = await click(slack, fake_slack, request, "Approve", DAVE)

    assert answer == "You can't approve this: only approvers can."
    delivery, approval = await the_delivery(session)
    assert (delivery.status, approval.decision) == ("awaiting_approval", "pending")


async def test_an_approval_queues_the_send_and_the_request_message_says_who_decided(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)

    answer = await click(slack, fake_slack, request, "Approve", BOB)
    await drain(settings)

    assert answer == "✅ You approved the send of *INV-0001*: it is queued and goes out in a moment."
    delivery, approval = await the_delivery(session)
    assert (delivery.status, delivery.approved_by, approval.decided_by) == ("queued", BOB.id, BOB.id)
    audit = (await session.execute(select(AuditLog.action, AuditLog.actor))).all()
    assert ("delivery.approved", BOB.id) in audit
    message = request["message"]
    assert message.edits == 1
    assert texts(message.blocks)[-1].startswith("✅ Approved by <@U0BOB> at ")
    assert not approval_buttons(message.blocks), "the decided request has no buttons left"


async def open_reject(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, request: dict[str, Any], user: SlackUserRef
) -> dict[str, Any]:
    """`user` clicks *Reject*; returns the modal that asks why, as the fake Slack holds it."""
    opened = len(fake_slack.calls_to("views.open"))
    element, block_id = approval_buttons(request["blocks"])["Reject"]
    response = await slack.click(
        button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url(),
        channel_id=APPROVERS_CHANNEL, message_ts=request["ts"],
    )  # fmt: skip
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    return fake_slack.views[list(fake_slack.views)[-1]]


async def reject(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, request: dict[str, Any], user: SlackUserRef, reason: str
) -> dict[str, Any]:
    """`user` rejects with `reason`; returns Slack's answer to the submission (the updated modal or errors)."""
    modal = await open_reject(slack, fake_slack, request, user)
    return await submit(slack, modal, user=user, reject_reason=reason)


async def test_a_rejection_asks_why_and_ends_the_send_without_an_email(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)
    modal = await open_reject(slack, fake_slack, request, CAROL)
    assert modal["title"]["text"] == "Reject the send" and "*INV-0001*" in texts(modal["blocks"])[0]

    empty = await submit(slack, modal, user=CAROL, reject_reason="   ")
    delivery, approval = await the_delivery(session)
    assert empty == {
        "response_action": "errors",
        "errors": {"reject_reason": "Say why you reject this send: the person who asked reads it."},
    }
    assert (delivery.status, approval.decision) == ("awaiting_approval", "pending")

    answer = await submit(slack, modal, user=CAROL, reject_reason="The amount is <wrong>, see the PO")
    await drain(settings)

    assert answer["response_action"] == "update"
    assert texts(answer["view"]["blocks"]) == [
        "🚫 You rejected the send of *INV-0001*: no email goes out. The person who asked is told why."
    ]
    delivery, approval = await the_delivery(session)
    assert (delivery.status, approval.decision, approval.decided_by) == ("rejected", "rejected", CAROL.id)
    assert approval.reason == "The amount is <wrong>, see the PO"
    decided = texts(request["message"].blocks)[-1]
    assert "Rejected by <@U0CAROL>" in decided and ": The amount is &lt;wrong&gt;, see the PO" in decided
    # the requester's status message of the send says who rejected it and why
    status = [m for c, ms in fake_slack.messages.items() if c != APPROVERS_CHANNEL for m in ms]
    assert any("The amount is &lt;wrong&gt;, see the PO" in "".join(texts(m.blocks)) for m in status), status
    # … and is told in its thread
    notes = [c.args for c in fake_slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == status[0].ts]
    assert [note["text"] for note in notes] == [
        "✋ <@U0CAROL> rejected the send of *INV-0001*: The amount is &lt;wrong&gt;, see the PO. No email was sent."
    ]
    audit = (
        await session.execute(select(AuditLog.actor, AuditLog.detail).where(AuditLog.action == "delivery.rejected"))
    ).all()
    assert [(actor, detail["reason"]) for actor, detail in audit] == [(CAROL.id, "The amount is <wrong>, see the PO")]


async def test_two_approvers_clicking_at_once_make_exactly_one_decision(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)

    modal = await open_reject(slack, fake_slack, request, CAROL)
    clicked, rejected = await asyncio.gather(
        click(slack, fake_slack, request, "Approve", BOB), submit(slack, modal, user=CAROL, reject_reason="no")
    )
    # the loser reads "Already …": the approver where they clicked, the rejecter under the reason
    answers = [clicked, rejected["errors"]["reject_reason"] if "errors" in rejected else "rejected"]

    delivery, approval = await the_delivery(session)
    winner = BOB if approval.decision == "approved" else CAROL
    assert approval.decided_by == winner.id
    assert delivery.status == ("queued" if winner == BOB else "rejected")
    assert sum(answer.startswith("Already ") for answer in answers) == 1, answers
    assert f"by <@{winner.id}> at " in next(a for a in answers if a.startswith("Already "))
    decided = (await session.execute(select(Notification).where(Notification.kind == "approval_decided"))).all()
    assert len(decided) == 1


async def test_a_forged_send_id_too_large_for_any_row_is_answered_with_a_sentence_and_changes_nothing(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, settings: Settings
):
    request = await request_waiting_send(slack, fake_slack, session, org, settings)
    _button, block_id = approval_buttons(request["blocks"])["Approve"]
    forged_blocks = [
        {**block, "elements": [{**e, "value": "1" + "0" * 30} for e in block["elements"]]}
        if block.get("block_id") == block_id
        else block
        for block in request["blocks"]
    ]

    answer = await click(slack, fake_slack, {**request, "blocks": forged_blocks}, "Approve", BOB)

    assert answer == "This button names no send; it may be from an older version of invoicebot."
    delivery, approval = await the_delivery(session)
    assert (delivery.status, approval.decision) == ("awaiting_approval", "pending")
