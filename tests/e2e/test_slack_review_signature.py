"""The reviewer sees who the customer gets the email from: the review modal signs the message with
the same From name the worker sends with (the admin's From name, else the legal name), through
the real web app and the production worker at a real SMTP server."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer
from handlers.ids import BlockId
from services.db.models import Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks
from tests.harness.seeding import seed_invoice
from tests.harness.slack import slack_settings

FROM_NAME = "Books Team at Example"


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer) -> Settings:
    return slack_settings(
        database_url,
        fake_slack,
        INVOICEBOT_SENDER_NAME=FROM_NAME,
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SECRET_KEY="test-verp-secret",
    )


async def test_the_review_signs_the_message_with_the_from_name_the_customer_receives(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    settings: Settings,
    smtp: ScriptedSmtpServer,
):
    await seed_invoice(session, org)

    review = await open_review(slack, fake_slack, "INV-0001")

    message = input_blocks(review)[f"{BlockId.REVIEW_MESSAGE}.en"]["element"]["initial_value"]
    assert message.rstrip().endswith(f"Kind regards,\n{FROM_NAME}\n{org.name}"), message
    await submit(slack, review, fake_slack=fake_slack)
    worker_runtime = bootstrap(settings, loops=[Loop.WORKER])
    assert worker_runtime.worker is not None
    try:
        assert await worker_runtime.worker.drain() == 1
    finally:
        await worker_runtime.aclose()

    [received] = smtp.received
    email = message_from_bytes(received.data, policy=policy.default)
    assert isinstance(email, EmailMessage)
    assert email["From"].addresses[0].display_name == FROM_NAME
    text = email.get_body(("plain",))
    assert text is not None
    assert text.get_content().replace("\r\n", "\n").rstrip() == message.rstrip(), "the customer reads what was reviewed"
