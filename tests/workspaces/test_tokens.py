"""Rotating tokens refreshed once per installation; an uninstalled workspace stops cleanly."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.clock import utcnow
from services.db.models import Delivery, DeliveryStatus, Invoice, Organisation, slack_bots, slack_installations
from services.sending.queue import count_due_deliveries
from tests import factories
from tests.harness.waiting import until
from tests.harness.workspaces import ANN, Browser, organisation_of, sending_paused, stored_rows


async def test_tokens_about_to_expire_are_refreshed_once_however_many_posts_ask_at_once(
    browser: Browser, runtime: Runtime, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    assert fake_slack.oauth is not None and runtime.workspace_tokens is not None
    fake_slack.oauth.expires_in = 60  # the installed token is inside the refresh window at once
    assert (await browser.install("T0ONE")).status_code == 200
    [installed] = fake_slack.oauth.tokens_of("T0ONE")
    fake_slack.oauth.expires_in = 43_200

    tokens = await asyncio.gather(*(runtime.workspace_tokens.bot_token("T0ONE") for _ in range(5)))

    assert fake_slack.oauth.refreshes == ["T0ONE"], "one oauth.v2.access refresh, not five"
    assert len(set(tokens)) == 1 and tokens[0] != installed
    [refresh] = fake_slack.calls_to("oauth.v2.access")[-1:]
    assert refresh.args["grant_type"] == "refresh_token"
    [bot] = await stored_rows(session, slack_bots)
    assert tokens[0] not in bot["bot_token"], "the refreshed token is stored encrypted too"
    assert await runtime.workspace_tokens.bot_token("T0ONE") == tokens[0]
    assert fake_slack.oauth.refreshes == ["T0ONE"]


async def test_app_uninstalled_deletes_the_tokens_pauses_sending_and_keeps_the_data(
    browser: Browser,
    slack: SlackRequestClient,
    runtime: Runtime,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    assert (await browser.install("T0ONE")).status_code == 200
    one = await organisation_of(session, "T0ONE")
    assert one is not None
    delivery = await factories.queued_delivery(session, one.id, verp_secret=b"test-verp-secret")
    one_id, delivery_id = one.id, delivery.id
    assert await count_due_deliveries(session, now=utcnow()) == 1

    answer = await slack.event({"type": "app_uninstalled"}, team_id="T0ONE")

    assert answer.status_code == 200
    await until(lambda: sending_paused(session, "T0ONE"), within=5, what="the workspace's sending paused")
    assert await stored_rows(session, slack_bots) == [] and await stored_rows(session, slack_installations) == []
    paused = await organisation_of(session, "T0ONE")
    assert paused is not None and paused.sending_paused == "the app was uninstalled from the Slack workspace"
    assert await count_due_deliveries(session, now=utcnow()) == 0, "the worker claims none of its emails"
    session.expire_all()
    kept = await session.get(Delivery, delivery_id)
    assert kept is not None and kept.status == DeliveryStatus.QUEUED
    assert (await session.execute(select(Invoice).where(Invoice.organisation_id == one_id))).scalars().all()

    later = await slack.command("due", user=ANN, response_url=fake_slack.response_url("after"))
    assert "INV-0001" not in later.text, "an uninstalled workspace is not served"

    assert (await browser.install("T0ONE")).status_code == 200
    resumed = await organisation_of(session, "T0ONE")
    assert resumed is not None and resumed.sending_paused is None and resumed.id == one_id
    assert await count_due_deliveries(session, now=utcnow()) == 1


async def test_tokens_revoked_for_the_bot_stops_that_workspace_only(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    for team in ("T0ONE", "T0TWO"):
        assert (await browser.install(team)).status_code == 200

    answer = await slack.event({"type": "tokens_revoked", "tokens": {"bot": ["UBOTT0TWO"]}}, team_id="T0TWO")

    assert answer.status_code == 200
    await until(lambda: sending_paused(session, "T0TWO"), within=5, what="the workspace's sending paused")
    assert [row["team_id"] for row in await stored_rows(session, slack_bots)] == ["T0ONE"]
    two, one = await organisation_of(session, "T0TWO"), await organisation_of(session, "T0ONE")
    assert two is not None and two.sending_paused == "the bot's token was revoked in the Slack workspace"
    assert one is not None and one.sending_paused is None
