"""`POST /slack/events` verifies first, then acts; every stranger's request is cheap and silent.

Issue 11, items 1 and 2, from an attacker's view: a malformed signature header must not
make the app call out to a `response_url` of the attacker's choosing; bodies are bounded;
a signed payload Bolt cannot parse is a 400, a button value of 10^20 a friendly sentence.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Route

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click, slash_command_body
from bot.slack_door import SLACK_MAX_BODY_BYTES
from bot.web import create_web_app
from services.db.models import AuditLog, Organisation
from tests.harness.canary import Canary, canary_server
from tests.harness.reading import buttons
from tests.harness.seeding import seed_overdue
from tests.harness.servers import serving
from tests.harness.slack import ALICE, SIGNING_SECRET, signed_headers


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with canary_server() as running:
        yield running


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize(
    ("how", "headers"),
    [
        ("timestamp not a number", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64}),
        ("no timestamp", {"X-Slack-Signature": "v0=" + "0" * 64}),
        ("signature not hex", {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=" + "zz" * 32}),
        ("no signature", {"X-Slack-Request-Timestamp": "{now}"}),
        ("signature not ASCII", {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=é".encode()}),
    ],
)
async def test_malformed_signature_headers_get_401_and_the_response_url_is_never_called(
    how: str,
    headers: dict[str, str | bytes],
    slack: SlackRequestClient,
    canary: Canary,
    session: AsyncSession,
    org: Organisation,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    body = slash_command_body(text="due", user=ALICE, response_url=canary.url("stolen"))
    now = str(int(time.time()))
    sent: dict[str, Any] = {
        key: value.replace("{now}", now) if isinstance(value, str) else value for key, value in headers.items()
    }

    response = await slack.post(body, signed=False, headers=sent)

    assert response.status_code == 401, how
    assert len(response.content) < 100
    assert canary.hits == []
    assert await session.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert _tracebacks(caplog) == []


async def test_an_unsigned_body_is_never_logged_and_cannot_forge_a_log_line(
    slack: SlackRequestClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    body = "text=hello%0AFORGED-LINE+level%3DCRITICAL&response_url=x"

    response = await slack.post(body, signing_secret="not-the-secret")

    assert response.status_code == 401
    assert "FORGED-LINE" not in caplog.text
    assert "hello" not in caplog.text


async def test_a_body_over_the_limit_gets_413_whether_declared_or_streamed(slack: SlackRequestClient):
    oversized = b"text=" + b"a" * SLACK_MAX_BODY_BYTES

    async def stream() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        for start in range(0, len(oversized), 64 * 1024):
            yield oversized[start : start + 64 * 1024]

    declared = await slack.http.post(slack.events_url, content=oversized)
    streamed = await slack.http.post(slack.events_url, content=stream())

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "larger than" in declared.text and len(declared.content) < 100


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("how", "body", "content_type"),
    [
        ("payload is a JSON array", "payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        ("payload is not JSON", "payload=not-json", "application/x-www-form-urlencoded"),
        ("payload nested 100,000 deep", "payload=" + "%5B" * 100_000, "application/x-www-form-urlencoded"),
        ("JSON body is a string", '"hello"', "application/json"),
        ("JSON body nested deep", '{"a":' * 1000 + "1" + "}" * 1000, "application/json"),
        ("a number of 30 digits", '{"type":"event_callback","n":' + "9" * 30 + "}", "application/json"),
        ("event is not an object", '{"type":"event_callback","event":null}', "application/json"),
        ("response_urls hold text", "payload=" + quote('{"type":"view_submission","response_urls":["x"]}'), FORM),
        ("too many form fields", "&".join(f"f{n}=1" for n in range(500)), "application/x-www-form-urlencoded"),
    ],
)
async def test_a_signed_body_bolt_cannot_parse_safely_gets_400(
    how: str, body: str, content_type: str, slack: SlackRequestClient, caplog: pytest.LogCaptureFixture
):
    raw = body.encode()
    headers = {"Content-Type": content_type} | signed_headers(raw)

    response = await slack.http.post(slack.events_url, content=raw, headers=headers)

    assert response.status_code == 400, how
    assert len(response.content) < 200
    assert _tracebacks(caplog) == []


async def test_a_body_that_is_not_utf8_is_refused_even_when_signed(slack: SlackRequestClient):
    raw = b"text=\xff&response_url=x"

    response = await slack.http.post(slack.events_url, content=raw, headers=signed_headers(raw))

    assert response.status_code == 401


async def test_a_page_button_of_ten_to_the_twentieth_answers_a_sentence_not_a_500(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=12)
    first = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url("page"))).json()
    next_button, footer = buttons(first["blocks"])["Next ▶"]
    forged = button_click(next_button, block_id=footer) | {"value": json.dumps({"p": 10**20, "c": None})}
    as_text = button_click(next_button, block_id=footer) | {"value": json.dumps({"p": str(10**20)})}

    answers = [
        await slack.click(click, user=ALICE, response_url=fake_slack.response_url("page"))
        for click in (forged, as_text)
    ]

    assert [answer.status_code for answer in answers] == [200, 200]
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("page")) == 2)
    for posted in fake_slack.responses_to("page"):
        assert "older version of the listing" in posted.body["text"]


async def test_a_signed_request_still_reaches_bolt_and_answers(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    response = await slack.command("help", user=ALICE, response_url=fake_slack.response_url("help"))

    assert response.status_code == 200
    assert "/invoices" in response.text


async def test_an_unexpected_error_answers_500_with_a_reference_and_logs_one_line(
    caplog: pytest.LogCaptureFixture,
):
    async def broken(_request: object) -> None:
        raise RuntimeError("disk on fire\nFORGED line")

    app = create_web_app(slack_app=None, extra_routes=[Route("/broken", broken)])
    caplog.set_level(logging.DEBUG, logger="invoicebot")
    async with serving(app) as url, httpx.AsyncClient() as http:
        response = await http.get(f"{url}/broken")

    assert response.status_code == 500
    reference = response.text.rsplit("error ref ", 1)[1]
    assert "Traceback" not in response.text and "disk on fire" not in response.text
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = line.getMessage()
    assert f"ref={reference}" in message and "\n" not in message and "RuntimeError" in message
    assert line.exc_info is None


async def test_bolt_still_checks_the_signature_itself_after_the_door(canary: Canary):
    # A Bolt app built with another secret than the door's: only Bolt's own check can refuse.
    client = AsyncWebClient(token="xoxb-canary", base_url=canary.url("api/"))
    app = create_web_app(
        slack_app=AsyncApp(signing_secret="another-secret", client=client), slack_signing_secret=SIGNING_SECRET
    )
    body = slash_command_body(text="help", user=ALICE, response_url=canary.url("response"))
    headers = {"Content-Type": FORM} | signed_headers(body.encode())

    async with serving(app) as url, httpx.AsyncClient() as http:
        response = await http.post(f"{url}/slack/events", content=body.encode(), headers=headers)

    assert response.status_code == 401
    assert canary.hits == []
