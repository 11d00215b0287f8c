"""The fake Slack Web API answers the real slack_sdk client as Slack would."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack_api import FakeSlackApi
from tests.harness.slack import BOT_TOKEN


def client_for(fake_slack: FakeSlackApi, token: str = BOT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=fake_slack.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )


async def test_a_429_with_retry_after_is_retried_and_the_message_is_posted_once(fake_slack: FakeSlackApi):
    fake_slack.fail_next("chat.postMessage", times=1, retry_after=0)
    client = client_for(fake_slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*INV-1* queued"}}]

    posted = await client.chat_postMessage(channel="C0NOTIFY", text="INV-1 queued", blocks=blocks)
    await client.chat_update(channel="C0NOTIFY", ts=posted["ts"], text="INV-1 delivered", blocks=[])

    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    [message] = fake_slack.messages["C0NOTIFY"]
    assert (message.ts, message.text, message.edits) == (posted["ts"], "INV-1 delivered", 1)
    assert fake_slack.calls_to("chat.postMessage")[0].args["blocks"] == blocks


async def test_scripted_errors_and_a_wrong_token_come_back_as_slack_errors(fake_slack: FakeSlackApi):
    fake_slack.fail_next("views.open", error="expired_trigger_id")
    with pytest.raises(SlackApiError) as expired:
        await client_for(fake_slack).views_open(trigger_id="1.2", view={"type": "modal", "blocks": []})
    with pytest.raises(SlackApiError) as wrong:
        await client_for(fake_slack, token="xoxb-wrong").auth_test()
    assert expired.value.response["error"] == "expired_trigger_id"
    assert wrong.value.response["error"] == "invalid_auth"


async def test_views_keep_their_id_and_refuse_a_stale_hash(fake_slack: FakeSlackApi):
    client = client_for(fake_slack)
    opened = (await client.views_open(trigger_id="1.2", view={"type": "modal", "title": {}, "blocks": []}))["view"]
    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view={"type": "modal", "blocks": []})
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view={"type": "modal", "blocks": []})
    assert updated["view"]["id"] == opened["id"]
    assert stale.value.response["error"] == "hash_conflict"


async def test_users_info_gives_the_email_of_a_known_user(fake_slack: FakeSlackApi):
    fake_slack.add_user("U0ALICE", email="alice@example.com")
    info = await client_for(fake_slack).users_info(user="U0ALICE")
    assert info["user"]["profile"]["email"] == "alice@example.com"
    assert info["user"]["team_id"] == "T0OWN"
