"""*View email as sent* under `/invoices show`: signed Slack requests to the real app, the modal as the
fake Slack received it, and the .eml download over HTTP from the real web app — the exact bytes a
real aiosmtpd received; a tampered or expired link gets 403."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from services.db.models import Organisation, utcnow
from services.sending.sent_messages import email_download_path
from tests.harness.reading import texts
from tests.harness.sending import make_worker, queue_delivery
from tests.harness.slack import ALICE, BOB, VERP_KEY, settings_with

settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY, INVOICEBOT_SENDERS=ALICE.id)
pytestmark = pytest.mark.smtp_client(timeout=5.0, pool_size=1)


async def _open_sent_email(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: Any) -> dict[str, Any]:
    tag = f"show-{user.id}"
    await slack.command("show INV-0001", user=user, response_url=fake_slack.response_url(tag))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to(tag)) == 1)
    shown = fake_slack.responses_to(tag)[0].body["blocks"]
    [block] = [b for b in shown if b.get("block_id") == "invoice_sent_email_actions"]
    [button] = block["elements"]
    assert button["text"]["text"] == "View email as sent"
    opened = len(fake_slack.calls_to("views.open"))
    await slack.click(button_click(button, block_id=block["block_id"]), user=user,
                      response_url=fake_slack.response_url(f"click-{user.id}"))  # fmt: skip
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    return fake_slack.views[list(fake_slack.views)[-1]]


async def test_staff_see_the_email_as_sent_and_download_the_exact_bytes_through_a_short_lived_link(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    org: Organisation,
    transport,
    smtp,
    web_url: str,
) -> None:
    delivery = await queue_delivery(session, org, number="INV-0001")
    assert await make_worker(sessions, transport).drain() == 1
    [received] = smtp.received

    modal = await _open_sent_email(slack, fake_slack, ALICE)

    text = "\n".join(texts(modal["blocks"]))
    assert modal["title"]["text"] == "Email as sent"
    assert "*To:* ap@acme.example" in text
    assert f"*Subject:* {delivery.subject}" in text
    assert "*Message-ID:* &lt;" in text and "*From:*" in text and "*Date:*" in text
    assert delivery.body_text.splitlines()[0] in text
    assert re.search(r"📎 INV-0001\.pdf — \d+\.\d KB", text)
    assert re.search(r"📎 INV-0001\.xml — \d+\.\d KB", text)
    [link] = re.findall(r"<(http[^|>]+)\|Download the \.eml>", text)
    path = link.split("://", 1)[1].split("/", 1)[1]

    async with httpx.AsyncClient(timeout=10) as http:
        download = await http.get(f"{web_url}/{path}")
        token = path.removeprefix("e/").removesuffix(".eml")
        tampered_id = await http.get(f"{web_url}/e/{delivery.id + 1}{token[len(str(delivery.id)) :]}.eml")
        tampered_sig = await http.get(f"{web_url}/e/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}.eml")
        expired_path = email_download_path(
            delivery_id=delivery.id, now=utcnow() - timedelta(minutes=11), minutes=10, secret=VERP_KEY.encode()
        )
        expired = await http.get(f"{web_url}{expired_path}")
        fresh = await http.get(
            web_url + email_download_path(delivery_id=delivery.id, now=utcnow(), minutes=10, secret=VERP_KEY.encode())
        )

    assert download.status_code == 200
    assert download.headers["content-type"].startswith("message/rfc822")
    assert "attachment" in download.headers["content-disposition"]
    assert download.content == received.data
    assert fresh.status_code == 200 and fresh.content == received.data
    for refused in (tampered_id, tampered_sig, expired):
        assert refused.status_code == 403
        assert "not valid or has expired" in refused.text
        assert refused.content != received.data


async def test_who_may_not_send_sees_the_email_but_gets_no_download(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    org: Organisation,
    transport,
    smtp,
) -> None:
    await queue_delivery(session, org, number="INV-0001")
    assert await make_worker(sessions, transport).drain() == 1

    modal = await _open_sent_email(slack, fake_slack, BOB)

    text = "\n".join(texts(modal["blocks"]))
    assert "*To:* ap@acme.example" in text
    assert "Download the .eml" not in text
    assert "Only the people who may send invoices can download the .eml." in text
