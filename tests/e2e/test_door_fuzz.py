"""Fuzzing every door of the real web app (issue 11, item 5): random and mutated requests.

Hypothesis posts slash commands, block actions, view submissions and each provider's
webhook, mutated or made up, without a valid signature or credentials, to the app served
on 127.0.0.1. Whatever arrives: no 5xx, no row of the database changes, and the canary (an
HTTP server whose URL is in every URL field: response_url, response_urls, SigningCertURL,
SubscribeURL) is never called. A second property posts *signed* random Slack bodies: those
may act, but never answer 5xx.

Hypothesis drives a synchronous function, so it runs in a worker thread and talks HTTP to
the server on the test's event loop; examples are bounded (max_examples, no deadline).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body, view_submission_body
from services.db.models import Base, Organisation
from tests.harness.canary import Canary, canary_server
from tests.harness.providers import (
    MAILGUN_SIGNING_KEY,
    POSTMARK_USER,
    TOPIC_ARN,
    SendGridSigner,
    fixture_json,
    mailgun_signed,
)
from tests.harness.slack import ALICE, SIGNING_SECRET, signed_headers, slack_settings

FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SLACK_KINDS = ("slash", "block_actions", "view_submission")
PROVIDERS = ("postmark", "sendgrid", "mailgun", "ses")
HEADER_CHARACTERS = st.characters(min_codepoint=33, max_codepoint=126)  # what an HTTP client will send
# Raw header bytes a client may still send (latin-1 beyond ASCII), never CR, LF or NUL.
HEADER_BYTES = st.binary(min_size=1, max_size=40).map(lambda raw: bytes(b for b in raw if b >= 0x21) or b"x")


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi) -> Settings:  # every door open: Slack and all providers
    return slack_settings(
        database_url,
        fake_slack,
        INVOICEBOT_SECRET_KEY="fuzz-secret-key-0123456789abcdef",
        INVOICEBOT_POSTMARK_WEBHOOK_USER=POSTMARK_USER,
        INVOICEBOT_POSTMARK_WEBHOOK_PASSWORD="the-real-postmark-password",
        INVOICEBOT_SENDGRID_WEBHOOK_PUBLIC_KEY=SendGridSigner().public_key_base64,
        INVOICEBOT_MAILGUN_SIGNING_KEY="not-the-" + MAILGUN_SIGNING_KEY,
        INVOICEBOT_SES_TOPIC_ARNS=TOPIC_ARN,
        INVOICEBOT_METRICS_TOKEN="fuzz-metrics-token-0123456789",
    )


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with canary_server() as running:
        yield running


async def _snapshot(session: AsyncSession) -> dict[str, list[str]]:
    """Every row of every table, as text: what 'the database did not change' compares."""
    session.expire_all()
    rows = {}
    for table in Base.metadata.sorted_tables:
        result = await session.execute(select(table))
        rows[table.name] = sorted(repr(tuple(row)) for row in result)
    return rows


def _json_values(canary_url: str) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**25), max_value=10**25),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        st.just(canary_url),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(["type", "response_url", "response_urls", "url", "value", "id", "event", "p"])
                | st.text(max_size=8),
                inner,
                max_size=5,
            ),
        ),
        max_leaves=20,
    )


def _mutate(body: bytes, data: st.DataObject) -> bytes:
    """Leave it, cut it, splice random bytes into it, or duplicate a slice of it."""
    how = data.draw(st.sampled_from(["keep", "cut", "splice", "repeat"]))
    at = len(body) * data.draw(st.integers(min_value=0, max_value=1000)) // 1000  # bodies vary in length
    if how == "cut":
        return body[:at]
    if how == "splice":
        return body[:at] + data.draw(st.binary(min_size=1, max_size=30)) + body[at:]
    if how == "repeat":
        return body[:at] + body[at : at + 50] * data.draw(st.integers(min_value=2, max_value=20)) + body[at:]
    return body


def _slack_body(kind: str, canary_url: str, data: st.DataObject) -> bytes:
    if data.draw(st.booleans()):
        random_payload = data.draw(_json_values(canary_url))
        if isinstance(random_payload, dict):
            random_payload.setdefault("response_url", canary_url)
            random_payload.setdefault("type", kind)
        if data.draw(st.booleans()):
            return json.dumps(random_payload).encode()
        return urlencode({"payload": json.dumps(random_payload), "response_url": canary_url}).encode()
    if kind == "slash":
        text = data.draw(st.text(max_size=30))
        body = slash_command_body(text=text, user=ALICE, response_url=canary_url)
    elif kind == "block_actions":
        action = {"action_id": data.draw(st.sampled_from(["due_page", "invoice_menu", "send_all", "x"])),
                  "block_id": data.draw(st.text(max_size=20)), "value": data.draw(st.text(max_size=40))}  # fmt: skip
        body = block_actions_body(action=action, user=ALICE, response_url=canary_url)
    else:
        view = {"callback_id": data.draw(st.sampled_from(["review", "bulk_confirm", "x"])), "private_metadata": "{}"}
        body = view_submission_body(view=view, values={}, user=ALICE)
        response_urls = quote_plus(json.dumps([{"response_url": canary_url}]))
        body = body.replace("response_urls%22%3A+%5B%5D", "response_urls%22%3A+" + response_urls)
    return _mutate(body.encode(), data)


def _unsigned_slack_headers(body: bytes, data: st.DataObject) -> dict[str, Any]:  # str or raw bytes
    how = data.draw(st.sampled_from(["none", "wrong secret", "stale", "garbage"]))
    if how == "none":
        return {}
    if how == "garbage":
        return {
            "X-Slack-Request-Timestamp": data.draw(st.text(alphabet=HEADER_CHARACTERS, max_size=15)),
            "X-Slack-Signature": data.draw(st.text(alphabet=HEADER_CHARACTERS, max_size=70) | HEADER_BYTES),
        }
    text = body.decode("latin-1")
    if how == "stale":
        return sign(signing_secret=SIGNING_SECRET, body=text, timestamp=int(time.time()) - 600)
    return sign(signing_secret="not-the-secret", body=text)


def _webhook(provider: str, canary_url: str, data: st.DataObject) -> tuple[bytes, dict[str, Any]]:
    headers: dict[str, Any] = {}
    if provider == "postmark":
        body = json.dumps(fixture_json("postmark_bounce.json", token="t")).encode()
        if data.draw(st.booleans()):
            headers["Authorization"] = b"Basic " + data.draw(
                st.sampled_from([b"cG9zdG1hcms6d3Jvbmc=", b"w6k="]) | HEADER_BYTES
            )
    elif provider == "sendgrid":
        body = json.dumps(data.draw(st.lists(_json_values(canary_url), max_size=3))).encode()
        headers.update(SendGridSigner().headers(body))  # another key: never ours
        if data.draw(st.booleans()):
            headers["X-Twilio-Email-Event-Webhook-Signature"] = data.draw(HEADER_BYTES)
    elif provider == "mailgun":
        payload = fixture_json("mailgun_failed_permanent.json", token="t")
        body = (
            mailgun_signed(payload)
            if data.draw(st.booleans())
            else json.dumps(data.draw(_json_values(canary_url))).encode()
        )
    else:
        message = fixture_json("sns_subscription_confirmation.json")
        message |= {"SigningCertURL": canary_url, "SubscribeURL": canary_url, "Signature": "AAAA"}
        if data.draw(st.booleans()):
            message["Message"] = data.draw(st.text(max_size=50))
        body = json.dumps(message).encode()
    return _mutate(body, data), headers


async def test_requests_without_a_valid_signature_never_fail_change_or_call_out(
    web_url: str, canary: Canary, session: AsyncSession, org: Organisation
):
    before = await _snapshot(session)
    statuses: list[int] = []

    @FUZZ
    @given(st.sampled_from(SLACK_KINDS + PROVIDERS), st.data())
    def post_one(door: str, data: st.DataObject) -> None:
        with httpx.Client(timeout=10) as http:
            if door in SLACK_KINDS:
                body = _slack_body(door, canary.url(door), data)
                headers = _unsigned_slack_headers(body, data)
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
                response = http.post(f"{web_url}/slack/events", content=body, headers=headers)
            else:
                body, headers = _webhook(door, canary.url(door), data)
                response = http.post(f"{web_url}/webhooks/{door}", content=body, headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (door, body[:300], response.text)
        assert canary.hits == [], (door, body[:300])

    await asyncio.to_thread(post_one)

    assert len(statuses) >= 50
    assert set(statuses) <= {400, 401, 404, 413}
    assert await _snapshot(session) == before
    assert canary.hits == []


async def test_signed_random_slack_bodies_never_answer_5xx(web_url: str, fake_slack: FakeSlackApi, org: Organisation):
    statuses: list[int] = []

    @hypothesis_settings(FUZZ, max_examples=60)
    @given(st.sampled_from(SLACK_KINDS), st.data())
    def post_one(kind: str, data: st.DataObject) -> None:
        body = _slack_body(kind, fake_slack.response_url("fuzz"), data)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} | signed_headers(body)
        with httpx.Client(timeout=10) as http:
            response = http.post(f"{web_url}/slack/events", content=body, headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (kind, body[:300], response.text)

    await asyncio.to_thread(post_one)

    assert len(statuses) >= 20
