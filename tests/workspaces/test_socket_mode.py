"""Many workspaces in Socket Mode: two teams install the app by OAuth (through the real web app),
the runner holds one WebSocket (bot.runner.connect_socket_mode), and an envelope from each team is
answered with that team's own token, its own invoices and its own channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.config import Settings
from bot.runner import connect_socket_mode
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_oauth import FakeSlackOAuth
from bot.sandbox.slack_requests import SlackUserRef, event_body
from bot.sandbox.slack_socket import FakeSocketMode, SocketRequestClient
from services.db.models import Organisation, OrganisationSettingsRow
from tests import factories
from tests.harness.modals import open_review
from tests.harness.reading import texts
from tests.harness.slack import TODAY
from tests.harness.waiting import until
from tests.harness.workspaces import (
    ANN,
    CLIENT_ID,
    CLIENT_SECRET,
    ONE,
    TOM,
    TWO,
    Browser,
    multi_settings,
    organisation_of,
    sending_paused,
)

APP_TOKEN = "xapp-1-A0INVOICEBOT-1-test-app-token"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    """A Slack where two workspaces can install the app, and that pushes envelopes over Socket Mode."""
    oauth = FakeSlackOAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    for workspace in (ONE, TWO):
        oauth.add_workspace(workspace)
    api = FakeSlackApi(token=None, oauth=oauth, socket_mode=FakeSocketMode(app_token=APP_TOKEN))
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:
    return multi_settings(database_url, fake_slack, SLACK_APP_TOKEN=APP_TOKEN)


@pytest.fixture
async def socket_slack(runtime: Runtime, fake_slack: FakeSlackApi) -> AsyncIterator[SocketRequestClient]:
    """The runner's Socket Mode connection, open until the test ends."""
    socket_mode = fake_slack.socket_mode
    assert socket_mode is not None
    handler = await connect_socket_mode(runtime)
    assert handler is not None, "Socket Mode with many workspaces is served"
    try:
        await socket_mode.wait_until(lambda: socket_mode.connections == 1)
        yield SocketRequestClient(socket_mode)
    finally:
        await handler.close_async()


async def _installed(browser: Browser, session: AsyncSession, team: str, channel: str) -> Organisation:
    """`team` installs the app; its admin sets its channel; it has one invoice due, `<team>-1`."""
    assert (await browser.install(team)).status_code == 200
    organisation = await organisation_of(session, team)
    assert organisation is not None
    row = await session.get(OrganisationSettingsRow, organisation.id)
    assert row is not None
    row.notify_channel = channel
    organisation.settings_version += 1
    customer = await factories.customer(session, organisation.id, ref=f"C-{team}")
    await factories.invoice(session, organisation.id, customer, number=f"{team}-1", due=TODAY)
    await session.commit()
    return organisation


async def test_an_envelope_from_each_team_is_answered_with_its_own_token_invoices_and_channel(
    browser: Browser,
    socket_slack: SocketRequestClient,
    runtime: Runtime,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    oauth = fake_slack.oauth
    assert oauth is not None
    one = await _installed(browser, session, "T0ONE", "C0ONE")
    two = await _installed(browser, session, "T0TWO", "C0TWO")
    for organisation in (one, two):
        await factories.queued_delivery(
            session, organisation.id, verp_secret=b"test-verp-secret", number=f"{organisation.slack_team_id}-Q"
        )

    for user, other in ((ANN, TOM), (TOM, ANN)):
        team, stranger = user.team_id, other.team_id
        fake_slack.calls.clear()
        listing = await socket_slack.command("due", user=user, response_url=fake_slack.response_url(user.id))
        shown = " ".join(texts(listing.json()["blocks"]))
        assert f"{team}-1" in shown and f"{stranger}-1" not in shown, shown
        assert {call.token for call in fake_slack.calls} <= set(oauth.tokens_of(team))

        review = await open_review(socket_slack, fake_slack, f"{team}-1", user=user)
        assert f"{team}-1" in " ".join(texts(review["blocks"]))
        [opened] = fake_slack.calls_to("views.open")
        assert opened.token in oauth.tokens_of(team), "the modal is opened with the clicking team's token"

        # an Events API envelope delivered for `team` (the fake stamps its team and `authorizations`)
        envelope = await socket_slack.socket_mode.event(event_body(event=_home_opened(user)), team_id=team)
        await socket_slack.socket_mode.wait_acked(envelope)
        await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.publish")))
        [published] = fake_slack.calls_to("views.publish")
        assert published.token in oauth.tokens_of(team) and published.args["user_id"] == user.id

    assert runtime.notifier is not None
    fake_slack.calls.clear()
    assert await runtime.notifier.drain_once() == 2
    posts = {call.args["channel"]: call for call in fake_slack.calls_to("chat.postMessage")}
    assert set(posts) == {"C0ONE", "C0TWO"}
    assert posts["C0ONE"].token in oauth.tokens_of("T0ONE") and "T0ONE-Q" in str(posts["C0ONE"].args)
    assert posts["C0TWO"].token in oauth.tokens_of("T0TWO") and "T0TWO-Q" in str(posts["C0TWO"].args)


def _home_opened(user: SlackUserRef) -> dict[str, str]:
    return {"type": "app_home_opened", "user": user.id, "tab": "home", "channel": "D0" + user.id}


async def test_an_uninstall_over_the_socket_stops_that_team_only(
    browser: Browser,
    socket_slack: SocketRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    await _installed(browser, session, "T0ONE", "C0ONE")
    await _installed(browser, session, "T0TWO", "C0TWO")

    envelope = await socket_slack.socket_mode.event(event_body(event={"type": "app_uninstalled"}), team_id="T0TWO")
    await socket_slack.socket_mode.wait_acked(envelope)

    await until(lambda: sending_paused(session, "T0TWO"), within=5, what="T0TWO's sending paused")
    assert not await sending_paused(session, "T0ONE")
    stopped = await socket_slack.command("due", user=TOM, response_url=fake_slack.response_url("tom"))
    assert "T0TWO-1" not in stopped.text, "an uninstalled workspace is not served"
    served = await socket_slack.command("due", user=ANN, response_url=fake_slack.response_url("ann"))
    assert "T0ONE-1" in " ".join(texts(served.json()["blocks"]))
