"""Many workspaces: a fake Slack that installs the app by OAuth, and the browser's side of the flow.

`install(...)` walks the flow as a browser does, through the real web app: `/slack/install`
(state cookie + redirect to Slack), Slack's authorize page (a code for the chosen workspace),
`/slack/oauth_redirect` with the cookie. Each step can be broken the ways Slack's flow breaks.
Cookies are carried by hand: Bolt sets them `Secure`, which an HTTP cookie jar would not send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings, load_settings
from bot.organisation_settings import SettingsDirectory
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_oauth import FakeSlackOAuth, FakeWorkspace
from bot.sandbox.slack_requests import SlackUserRef
from services.db.models import Organisation
from tests.harness.slack import TODAY

CLIENT_ID = "1234.5678"
CLIENT_SECRET = "test-client-secret-0123456789"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
ONE = FakeWorkspace(team_id="T0ONE", team_name="One Trading")
TWO = FakeWorkspace(team_id="T0TWO", team_name="Two Imports")
GRID = FakeWorkspace(team_id=None, team_name="Grid", enterprise_id="E0GRID", enterprise_name="Grid Corp", org_wide=True)
ANN = SlackUserRef(id="U0ANN", team_id="T0ONE", name="ann")
TOM = SlackUserRef(id="U0TOM", team_id="T0TWO", name="tom")


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    """A Slack that knows the app's client id and secret and three installable workspaces."""
    oauth = FakeSlackOAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    for workspace in (ONE, TWO, GRID):
        oauth.add_workspace(workspace)
    api = FakeSlackApi(token=None, oauth=oauth)
    await api.start()
    yield api
    await api.stop()


def multi_settings(database_url: str, fake_slack: FakeSlackApi, **extra: str) -> Settings:
    return load_settings(
        DATABASE_URL=database_url,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        INVOICEBOT_TOKEN_KEY=Fernet.generate_key().decode(),
        INVOICEBOT_SLACK_API_URL=fake_slack.base_url,
        INVOICEBOT_SLACK_AUTHORIZE_URL=fake_slack.authorize_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_HTTP_PORT=0,
        INVOICEBOT_SECRET_KEY="test-verp-secret",
        **extra,
    )


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:
    return multi_settings(database_url, fake_slack)


@dataclass(frozen=True)
class Browser:
    """A browser on the install flow: the web app's URL and an HTTP client that follows nothing."""

    web_url: str
    http: httpx.AsyncClient

    async def start(self) -> tuple[str, str | None]:
        """`/slack/install`: where it sends the browser (Slack's authorize URL) and the state cookie."""
        answer = await self.http.get(f"{self.web_url}/slack/install")
        assert answer.status_code == 302, answer.text
        cookie = SimpleCookie(answer.headers.get("set-cookie", ""))
        state = next((morsel.value for morsel in cookie.values()), None)
        return answer.headers["location"], state

    async def allow(self, authorize_url: str, team: str) -> str:
        """Slack's page: the person picks `team` and clicks Allow; the app's redirect URL comes back."""
        answer = await self.http.get(f"{authorize_url}&team={team}")
        assert answer.status_code == 302, answer.text
        return self.on_web_app(answer.headers["location"])

    async def finish(self, redirect_url: str, state_cookie: str | None) -> httpx.Response:
        headers = {"Cookie": f"slack-app-oauth-state={state_cookie}"} if state_cookie else {}
        return await self.http.get(redirect_url, headers=headers)

    async def install(self, team: str) -> httpx.Response:
        authorize_url, cookie = await self.start()
        return await self.finish(await self.allow(authorize_url, team), cookie)

    def on_web_app(self, url: str) -> str:
        """The redirect URI names the public URL; the test's web app listens elsewhere."""
        parts, web = urlsplit(url), urlsplit(self.web_url)
        return urlunsplit((web.scheme, web.netloc, parts.path, parts.query, ""))


@pytest.fixture
async def browser(web_url: str) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
        yield Browser(web_url=web_url, http=http)


@pytest.fixture
async def runtime(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    """The app with its Slack notifier, built after `org` (the installation's first organisation)."""
    built = bootstrap(settings, loops={Loop.NOTIFIER}, seams=Seams(today=lambda: TODAY))
    yield built
    await built.aclose()


def directory_of(runtime: Runtime) -> SettingsDirectory:
    assert isinstance(runtime.organisations, SettingsDirectory) and runtime.organisations.by_team
    return runtime.organisations


async def organisation_of(session: AsyncSession, slack_team_id: str) -> Organisation | None:
    query = (
        select(Organisation)
        .where(Organisation.slack_team_id == slack_team_id)
        .execution_options(populate_existing=True)  # as committed by the app, not as this session last saw it
    )
    return (await session.execute(query)).scalar_one_or_none()


async def stored_rows(session: AsyncSession, table: Table) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(select(table))).mappings()]


async def sending_paused(session: AsyncSession, slack_team_id: str) -> bool:
    organisation = await organisation_of(session, slack_team_id)
    return organisation is not None and organisation.sending_paused is not None
