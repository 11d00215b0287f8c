"""Forged, replayed, foreign and retried requests change nothing; secrets never leak."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, block_actions_body, overflow_choice
from services.db.models import AuditLog, Invoice, Organisation
from tests.harness.reading import row_menus
from tests.harness.seeding import seed_overdue
from tests.harness.slack import ALICE, BOT_TOKEN, SIGNING_SECRET

MALLORY = SlackUserRef(id="U0MALLORY", team_id="T0OTHER", name="mallory")


async def _mark_sent_click(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    menu, block_id = row_menus(listing["blocks"])[0]
    return overflow_choice(menu, block_id=block_id, option_value="mark_sent:INV-0001")


async def _unchanged(session: AsyncSession) -> bool:
    session.expire_all()
    statuses = (await session.execute(select(Invoice.status))).scalars().all()
    audit = (await session.execute(select(AuditLog.id))).scalars().all()
    return set(statuses) == {"validated"} and not audit


@pytest.mark.parametrize(
    ("how", "post_options"),
    [
        ("unsigned", {"signed": False}),
        ("signed with another secret", {"signing_secret": "not-the-secret"}),
        ("replayed six minutes later", {"timestamp_offset": -6 * 60}),
        ("from the future", {"timestamp_offset": +6 * 60}),
    ],
)
async def test_forged_or_replayed_requests_get_401_and_change_nothing(
    how: str,
    post_options: dict[str, Any],
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    await seed_overdue(session, org, count=1)
    click = await _mark_sent_click(slack, fake_slack)
    body = block_actions_body(action=click, user=ALICE, response_url=fake_slack.response_url("forged"))

    options = dict(post_options)
    if "timestamp_offset" in options:
        # The clock is read now, when the test runs, never at collection.
        options["timestamp"] = int(time.time()) + options.pop("timestamp_offset")
    response = await slack.post(body, **options)

    assert response.status_code == 401, how
    assert await _unchanged(session)
    assert fake_slack.responses_to("forged") == []


async def test_a_user_from_another_workspace_cannot_act(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=1)
    click = await _mark_sent_click(slack, fake_slack)

    # In a shared channel the team is ours but the user belongs to another workspace.
    response = await slack.click(click, user=MALLORY, team_id="T0OWN", response_url=fake_slack.response_url("x"))
    command = await slack.command("due", user=MALLORY, response_url=fake_slack.response_url("x"))

    assert response.status_code == 200
    assert "another workspace" in response.json()["text"]
    assert "another workspace" in command.json()["text"] and "blocks" not in command.json()
    assert await _unchanged(session)


async def test_a_slack_retry_of_a_click_does_not_act_twice(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=1)
    click = await _mark_sent_click(slack, fake_slack)
    body = block_actions_body(action=click, user=ALICE, response_url=fake_slack.response_url("retry"))

    first = await slack.post(body)
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("retry")) == 1)
    retried = await slack.post(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})

    assert (first.status_code, retried.status_code) == (200, 200)
    await asyncio.sleep(0.2)  # give a wrongly accepted retry the time to act
    audit = (await session.execute(select(AuditLog.action))).scalars().all()
    assert audit == ["invoice.sent"]
    assert len(fake_slack.responses_to("retry")) == 1


async def test_secrets_never_appear_in_responses_or_logs(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    await seed_overdue(session, org, count=2)
    click = await _mark_sent_click(slack, fake_slack)
    answers = [
        await slack.command(text, user=ALICE, response_url=fake_slack.response_url("s"))
        for text in ("due", "help", "show INV-0001", "show NOPE", "nonsense")
    ]
    answers.append(await slack.click(click, user=ALICE, response_url=fake_slack.response_url("s")))
    answers.append(await slack.click(click, user=ALICE, response_url=fake_slack.response_url("s")))
    answers.append(await slack.post("payload=%7B%7D", signing_secret="wrong"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("s")) == 4)

    seen = [r.text for r in answers] + [str(p.body) for p in fake_slack.responses]
    seen += [str(call.args) for call in fake_slack.calls]
    seen += [record.getMessage() for record in caplog.records] + [caplog.text]
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert not any(secret in text for text in seen)
    assert any("Sending a request" in r.getMessage() for r in caplog.records), "debug logs were captured"
