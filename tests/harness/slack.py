"""The Slack side of a test: who clicks, the fake Slack Web API, and the real app it talks to.

The app is built exactly as production builds it (`bootstrap(settings)`: the Slack app and
the web app), pointed at the test database and at the fake API.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from bot.bootstrap import Runtime, Seams, bootstrap
from bot.config import Settings, load_settings
from bot.runner import web_server
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from services.db.models import Organisation
from tests.harness.servers import running

BOT_TOKEN = "xoxb-test-0000-secret-bot-token"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
TODAY = date(2026, 11, 23)
ALICE = SlackUserRef(id="U0ALICE", team_id="T0OWN", name="alice")
BOB = SlackUserRef(id="U0BOB", team_id="T0OWN", name="bob")
CHANNEL = "C0NOTIFY"
VERP_KEY = "test-verp-secret"


def slack_settings(database_url: str, fake_slack: FakeSlackApi, **extra: str) -> Settings:
    """The e2e settings (test database, fake Slack, SMTP on 127.0.0.1, any free port) plus `extra`."""
    return load_settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        INVOICEBOT_SLACK_API_URL=fake_slack.base_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_HTTP_PORT=0,
        **extra,
    )


def settings_with(**extra: str) -> Any:
    """A `settings` fixture for a module: the e2e settings plus `extra` (assign it to `settings`)."""

    @pytest.fixture
    def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:
        return slack_settings(database_url, fake_slack, **extra)

    return settings


# A notify channel and a VERP key: the settings of the tests that follow a send into Slack.
NOTIFYING = {"INVOICEBOT_NOTIFY_CHANNEL": CHANNEL, "INVOICEBOT_SECRET_KEY": VERP_KEY}


def signed_headers(raw: bytes, *, stamp: int | None = None) -> dict[str, str]:
    """Slack's two headers over exact bytes (`sign` takes text; these bodies may not be UTF-8).

    The timestamp is read when called (now, unless `stamp` is given), never at import.
    """
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp_text.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp_text, "X-Slack-Signature": f"v0={digest}"}


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN, team_id="T0OWN")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:
    return slack_settings(database_url, fake_slack)


@pytest.fixture
async def runtime(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    """Built after `org` (verified SMTP) exists, so the app adopts that organisation."""
    built = bootstrap(settings, seams=Seams(today=lambda: TODAY))
    yield built
    await built.aclose()


@pytest.fixture
async def web_url(runtime: Runtime) -> AsyncIterator[str]:
    assert runtime.slack_app is not None
    server = web_server(runtime, host="127.0.0.1", port=0, log_level="warning")
    async with running(server) as url:
        yield url


@pytest.fixture
async def slack(web_url: str) -> AsyncIterator[SlackRequestClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield SlackRequestClient(events_url=f"{web_url}/slack/events", signing_secret=SIGNING_SECRET, http=http)
