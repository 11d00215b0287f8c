"""Two workspaces installed side by side: each sees its own invoices, posts with its own token."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation, OrganisationSettingsRow
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import TODAY
from tests.harness.waiting import until
from tests.harness.workspaces import ANN, TOM, Browser, organisation_of, sending_paused


async def _installed(browser: Browser, session: AsyncSession, *teams: str) -> list[Organisation]:
    found = []
    for team in teams:
        assert (await browser.install(team)).status_code == 200
        organisation = await organisation_of(session, team)
        assert organisation is not None
        found.append(organisation)
    return found


async def test_each_workspace_sees_only_its_own_invoices_and_bolt_acts_with_its_own_token(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    one, two = await _installed(browser, session, "T0ONE", "T0TWO")
    for organisation, number in ((one, "ONE-1"), (two, "TWO-1")):
        customer = await factories.customer(session, organisation.id, ref=f"C-{number}")
        await factories.invoice(session, organisation.id, customer, number=number, due=TODAY)
    await session.commit()
    assert fake_slack.oauth is not None

    seen = {}
    for user in (ANN, TOM):
        fake_slack.calls.clear()
        answer = await slack.command("due", user=user, response_url=fake_slack.response_url(user.id))
        assert answer.status_code == 200
        seen[user.team_id] = " ".join(texts(answer.json()["blocks"]))
        [auth_test] = fake_slack.calls_to("auth.test")
        assert auth_test.token in fake_slack.oauth.tokens_of(user.team_id)

    assert "ONE-1" in seen["T0ONE"] and "TWO-1" not in seen["T0ONE"]
    assert "TWO-1" in seen["T0TWO"] and "ONE-1" not in seen["T0TWO"]


async def test_a_request_from_a_workspace_that_never_installed_the_app_is_not_served(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _installed(browser, session, "T0ONE")

    answer = await slack.command("due", user=TOM, response_url=fake_slack.response_url("tom"))

    assert "TWO" not in answer.text and "ONE" not in answer.text
    assert await organisation_of(session, "T0TWO") is None, "no organisation is made for a stranger"


async def test_the_notifier_posts_each_organisations_messages_with_its_token_to_its_channel(
    browser: Browser, runtime: Runtime, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    one, two = await _installed(browser, session, "T0ONE", "T0TWO")
    for organisation, channel in ((one, "C0ONE"), (two, "C0TWO")):  # each workspace's admin set its channel
        row = await session.get(OrganisationSettingsRow, organisation.id)
        assert row is not None
        row.notify_channel = channel
        organisation.settings_version += 1
    await session.commit()
    await factories.queued_delivery(session, one.id, verp_secret=b"test-verp-secret", number="ONE-1")
    await factories.queued_delivery(session, two.id, verp_secret=b"test-verp-secret", number="TWO-1")
    assert runtime.notifier is not None and fake_slack.oauth is not None

    assert await runtime.notifier.drain_once() == 2

    posts = {call.args["channel"]: call for call in fake_slack.calls_to("chat.postMessage")}
    assert set(posts) == {"C0ONE", "C0TWO"}
    assert posts["C0ONE"].token in fake_slack.oauth.tokens_of("T0ONE")
    assert posts["C0TWO"].token in fake_slack.oauth.tokens_of("T0TWO")
    assert "ONE-1" in str(posts["C0ONE"].args) and "TWO-1" not in str(posts["C0ONE"].args)


async def test_an_org_wide_grid_install_is_one_organisation_serving_its_workspaces(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    [grid] = await _installed(browser, session, "E0GRID")
    customer = await factories.customer(session, grid.id, ref="C-GRID")
    await factories.invoice(session, grid.id, customer, number="GRID-1", due=TODAY)
    await session.commit()
    body = urlencode(
        {
            "team_id": "T0SUB",
            "enterprise_id": "E0GRID",
            "is_enterprise_install": "true",
            "channel_id": "C0FIN",
            "user_id": "U0GRIDUSER",
            "user_name": "gina",
            "command": "/invoices",
            "text": "due",
            "api_app_id": "A0INVOICEBOT",
            "response_url": fake_slack.response_url("grid"),
            "trigger_id": "1.2.grid",
        }
    )

    answer = await slack.post(body)

    assert answer.status_code == 200
    assert "GRID-1" in " ".join(texts(answer.json()["blocks"]))


async def test_a_workspaces_second_request_asks_slack_nothing_and_an_uninstalled_one_is_not_served(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _installed(browser, session, "T0ONE")
    assert (await slack.command("due", user=ANN, response_url=fake_slack.response_url("a"))).status_code == 200
    fake_slack.calls.clear()

    again = await slack.command("due", user=ANN, response_url=fake_slack.response_url("b"))

    assert again.status_code == 200 and again.json()["response_type"] == "ephemeral"
    assert fake_slack.calls_to("auth.test") == [], "the token's auth.test answer is cached"
    assert (await slack.event({"type": "app_uninstalled"}, team_id="T0ONE")).status_code == 200
    await until(lambda: sending_paused(session, "T0ONE"), within=5, what="the workspace's sending paused")
    after = await slack.command("due", user=ANN, response_url=fake_slack.response_url("c"))
    assert "blocks" not in after.text, "no installation, no answer from the cache"
