"""The real web app under uvicorn on 127.0.0.1, a fake Slack Web API beside it, signed requests.

The app is built exactly as production builds it (`bootstrap(settings)`: the Slack app and
the web app), pointed at the test database and at the fake API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
import uvicorn

from bot.bootstrap import Runtime, Seams, bootstrap
from bot.config import Settings, load_settings
from bot.runner import bound_port, web_server
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from services.db.models import Organisation

BOT_TOKEN = "xoxb-test-0000-secret-bot-token"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
TODAY = date(2026, 11, 23)
ALICE = SlackUserRef(id="U0ALICE", team_id="T0OWN", name="alice")


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN, team_id="T0OWN")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:
    return load_settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        INVOICEBOT_SLACK_API_URL=fake_slack.base_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_HTTP_PORT=0,
    )


@pytest.fixture
async def runtime(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    """Built after `org` (verified SMTP) exists, so the app adopts that organisation."""
    built = bootstrap(settings, seams=Seams(today=lambda: TODAY))
    yield built
    await built.aclose()


async def _start(server: uvicorn.Server) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        await asyncio.sleep(0.01)
    return task


@pytest.fixture
async def web_url(runtime: Runtime) -> AsyncIterator[str]:
    assert runtime.slack_app is not None
    server = web_server(runtime, host="127.0.0.1", port=0, log_level="warning")
    task = await _start(server)
    yield f"http://127.0.0.1:{bound_port(server)}"
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def slack(web_url: str) -> AsyncIterator[SlackRequestClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield SlackRequestClient(events_url=f"{web_url}/slack/events", signing_secret=SIGNING_SECRET, http=http)
