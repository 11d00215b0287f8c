"""Installing invoicebot in a workspace through the real web app, and Slack's flow failing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from services.db.models import Organisation, slack_bots, slack_installations, slack_oauth_states
from tests.harness.workspaces import ONE, TWO, Browser, organisation_of, stored_rows


async def test_install_creates_the_workspaces_organisation_and_keeps_its_tokens_encrypted(
    browser: Browser, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    org_id = org.id
    page = await browser.install("T0ONE")

    assert page.status_code == 200
    assert "invoicebot is installed in One Trading" in page.text
    [bot] = await stored_rows(session, slack_bots)
    assert bot["team_id"] == "T0ONE" and bot["bot_refresh_token"] and bot["bot_token_expires_at"]
    [issued] = fake_slack.oauth.tokens_of("T0ONE") if fake_slack.oauth else []
    assert issued not in bot["bot_token"] and "xox" not in bot["bot_token"] + bot["bot_refresh_token"]
    [installation] = await stored_rows(session, slack_installations)
    assert installation["user_id"] == "U0INSTALLER" and "xox" not in installation["bot_token"]
    one = await organisation_of(session, "T0ONE")
    assert one is not None and one.id == org_id, "the first workspace adopts the installation's organisation"

    assert (await browser.install("T0TWO")).status_code == 200
    two = await organisation_of(session, "T0TWO")
    assert two is not None and two.id != org_id
    assert await stored_rows(session, slack_oauth_states) == [], "each state is used once"


async def test_without_the_state_cookie_the_install_is_refused_with_a_page_and_nothing_is_stored(
    browser: Browser, session: AsyncSession, org: Organisation
):
    authorize_url, _cookie = await browser.start()
    redirect = await browser.allow(authorize_url, ONE.key)

    page = await browser.finish(redirect, None)

    assert page.status_code == 400
    assert "started in another browser" in page.text and "Nothing was installed" in page.text
    assert await stored_rows(session, slack_bots) == [] and await stored_rows(session, slack_installations) == []
    assert await organisation_of(session, "T0ONE") is None


async def test_a_replayed_state_is_refused_and_changes_nothing(
    browser: Browser, session: AsyncSession, org: Organisation
):
    authorize_url, cookie = await browser.start()
    redirect = await browser.allow(authorize_url, ONE.key)
    assert (await browser.finish(redirect, cookie)).status_code == 200
    before = await stored_rows(session, slack_bots)

    replay = await browser.finish(redirect, cookie)

    assert replay.status_code == 401
    assert "already used or has expired" in replay.text
    assert await stored_rows(session, slack_bots) == before


async def test_a_bad_code_is_refused_with_a_page_and_nothing_is_stored(
    browser: Browser, session: AsyncSession, org: Organisation
):
    authorize_url, cookie = await browser.start()
    redirect = urlsplit(await browser.allow(authorize_url, TWO.key))
    query = {key: values[0] for key, values in parse_qs(redirect.query).items()}
    forged = redirect._replace(query=urlencode({**query, "code": "code-not-from-slack"})).geturl()

    page = await browser.finish(forged, cookie)

    assert page.status_code == 401
    assert "did not accept the authorisation code" in page.text
    assert await stored_rows(session, slack_bots) == []
    assert await organisation_of(session, "T0TWO") is None


async def test_a_person_who_cancels_in_slack_sees_why_and_nothing_is_stored(
    browser: Browser, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    assert fake_slack.oauth is not None
    fake_slack.oauth.deny_next()

    page = await browser.install("T0ONE")

    assert "The install was cancelled in Slack" in page.text
    assert await stored_rows(session, slack_installations) == []


async def test_a_restart_leaves_each_workspaces_organisation_as_it_was(
    browser: Browser, settings: Settings, session: AsyncSession, org: Organisation
):
    assert (await browser.install("T0ONE")).status_code == 200
    one = await organisation_of(session, "T0ONE")
    assert one is not None
    one.name = "One Trading (renamed)"
    await session.commit()

    restarted = bootstrap(settings)
    try:
        await restarted.start()
    finally:
        await restarted.aclose()

    kept = await organisation_of(session, "T0ONE")
    assert kept is not None and kept.name == "One Trading (renamed)"
