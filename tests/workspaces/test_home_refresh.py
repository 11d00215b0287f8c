"""App Home republished in many workspaces: each viewer's view goes with their own workspace's token."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from services.db.models import Organisation, OrganisationSettingsRow
from tests import factories
from tests.harness.workspaces import ANN, TOM, Browser, organisation_of


async def _open_home(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> None:
    published = len(fake_slack.calls_to("views.publish"))
    answer = await slack.event({"type": "app_home_opened", "user": user.id, "tab": "home"}, team_id=user.team_id)
    assert answer.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.publish")) > published)


async def test_a_post_in_one_workspace_republishes_only_its_viewers_with_its_token(
    browser: Browser,
    slack: SlackRequestClient,
    runtime: Runtime,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    for team in ("T0ONE", "T0TWO"):
        assert (await browser.install(team)).status_code == 200
    one = await organisation_of(session, "T0ONE")
    assert one is not None and fake_slack.oauth is not None and runtime.home_viewers is not None
    row = await session.get(OrganisationSettingsRow, one.id)
    assert row is not None
    row.notify_channel = "C0ONE"
    one.settings_version += 1
    await session.commit()
    await _open_home(slack, fake_slack, ANN)
    await _open_home(slack, fake_slack, TOM)
    runtime.home_viewers.min_interval = 0.0
    published = len(fake_slack.calls_to("views.publish"))

    await factories.queued_delivery(session, one.id, verp_secret=b"test-verp-secret", number="ONE-1")
    assert runtime.notifier is not None and await runtime.notifier.drain_once() == 1
    assert await runtime.home_viewers.publish_due() == 1

    [call] = fake_slack.calls_to("views.publish")[published:]
    assert call.args["user_id"] == ANN.id
    assert call.token in fake_slack.oauth.tokens_of("T0ONE")
    assert "ONE-1" in str(call.args["view"])
