"""Clicking through as a person would: open a modal, submit it, follow a "⏳" ack to the view the work left.

Each helper signs its requests (`SlackRequestClient`) and waits on the fake Slack, bounded in time.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from bot.sandbox.slack_requests import SlackRequests, SlackUserRef, button_click
from handlers.ids import ActionId
from tests.harness.reading import state_values, texts
from tests.harness.slack import ALICE, CHANNEL

FIX_WORKING = ["⏳ Saving the addresses and sending again…"]
FIX_QUEUED = ["✅ Addresses saved. The invoice is queued to go out again."]


async def open_review(
    slack: SlackRequests, fake_slack: FakeSlackApi, number: str, *, user: SlackUserRef = ALICE
) -> dict[str, Any]:
    """Click *Review & send* on `number`; return the filled modal as the fake Slack holds it."""
    updates = len(fake_slack.calls_to("views.update"))
    action = {"type": "button", "action_id": ActionId.REVIEW_AND_SEND, "block_id": "due_row:0:{}", "value": number}
    response = await slack.click(action, user=user, response_url=fake_slack.response_url())
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) > updates)
    update = fake_slack.calls_to("views.update")[-1]
    return fake_slack.views[update.args["view_id"]]


async def submit(
    slack: SlackRequests,
    view: dict[str, Any],
    *,
    user: SlackUserRef = ALICE,
    fake_slack: FakeSlackApi | None = None,
    **typed: Any,
) -> dict[str, Any]:
    """Submit the modal; with `fake_slack`, follow a "⏳ Sending…" ack to the view the work left.

    The answer is then `{"response_action": "update", "view": <the view after views.update>}`,
    the shape a one-step answer had; inline errors (no database needed) come back as they are.
    """
    updates = len(fake_slack.calls_to("views.update")) if fake_slack else 0
    response = await slack.submit(view, state_values(view, **typed), user=user)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json() if response.content else {}
    if fake_slack is None or answer.get("response_action") != "update":
        return answer
    assert texts(answer["view"]["blocks"])[0].startswith("⏳ Sending ")

    def finished() -> list[Any]:
        later = fake_slack.calls_to("views.update")[updates:]
        return [call for call in later if call.args.get("view_id") == view["id"]]

    await fake_slack.wait_until(lambda: bool(finished()), within=30)
    return {"response_action": "update", "view": fake_slack.views[view["id"]]}


async def open_confirmation(slack: SlackRequests, fake_slack: FakeSlackApi) -> dict[str, Any]:
    """`/invoices due`, then *Send all ready (2)*: the confirmation modal the fake Slack holds."""
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [footer] = [b for b in listing["blocks"] if b.get("block_id") == "due_footer"]
    [send_all] = [e for e in footer["elements"] if e["text"]["text"].startswith("Send all ready")]
    assert send_all["text"]["text"] == "Send all ready (2)"
    await slack.click(button_click(send_all, block_id="due_footer"), user=ALICE, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))
    [update] = fake_slack.calls_to("views.update")
    return fake_slack.views[update.args["view_id"]]


async def finished_view(fake_slack: FakeSlackApi, view_id: str, *, within: float = 30.0) -> dict[str, Any]:
    """The view as the submission's work left it: the `views.update` it sent after its "⏳" ack.

    The first update of `view_id` filled the loading modal with the confirmation; the second is the outcome.
    """

    def updates() -> list[Any]:
        return [call for call in fake_slack.calls_to("views.update") if call.args.get("view_id") == view_id]

    await fake_slack.wait_until(lambda: len(updates()) >= 2, within=within)
    [_, outcome] = updates()
    return dict(outcome.args["view"])


async def submit_fix(
    slack: SlackRequests, fake_slack: FakeSlackApi, modal: dict[str, Any], values: dict[str, Any]
) -> dict[str, Any]:
    """Submit the modal: inline errors come back as they are; a "⏳" ack is followed to the view the work left."""
    updates = len(fake_slack.calls_to("views.update"))
    response = await slack.submit(modal, values, user=ALICE)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    if answer.get("response_action") == "errors":
        return answer
    assert [b["text"]["text"] for b in answer["view"]["blocks"]] == FIX_WORKING

    def finished() -> bool:
        return any(call.args.get("view_id") == modal["id"] for call in fake_slack.calls_to("views.update")[updates:])

    await fake_slack.wait_until(finished, within=30)
    return {"response_action": "update", "view": fake_slack.views[modal["id"]]}


def alert_button(alert: StoredMessage, label: str) -> dict[str, Any]:
    """The click on the alert's button labelled `label`."""
    [actions] = [block for block in alert.blocks if block["type"] == "actions"]
    element = next(e for e in actions["elements"] if e["text"]["text"] == label)
    return button_click(element, block_id=actions["block_id"])


async def open_fix_modal(slack: SlackRequests, fake_slack: FakeSlackApi, alert: StoredMessage) -> dict[str, Any]:
    """Click *Fix address & resend* on the alert, in its channel; return the one modal it opens."""
    await slack.click(
        alert_button(alert, "Fix address & resend"),
        user=ALICE,
        response_url=fake_slack.response_url("fix"),
        channel_id=CHANNEL,
        message_ts=alert.ts,
    )
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1)
    [modal] = fake_slack.views.values()
    return modal
