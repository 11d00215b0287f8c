"""One invoice, one way of writing its amount and its due date: Slack, the email and the PDF agree.

Slack is read by the team (the organisation's default language in its country); the email
and the PDF by the customer (the document's language in the seller's country). For a UK
seller and an English customer both are en_GB; for a Swiss seller writing German to a
German-speaking customer both are de_CH. The invoice goes the whole real way: `/invoices
due`, `/invoices show`, *Review & send*, the modal's submission, the real worker, aiosmtpd.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from email import policy
from email.parser import BytesParser

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer
from bot.worker import Worker, WorkerParts, WorkerTuning
from handlers.blocks.status import status_message
from services.db.models import Delivery, Organisation
from services.email.smtp import SmtpRelay, SmtpTransport
from services.sending.pipeline import SenderIdentity
from services.sending.queue import RetryPolicy
from services.tracking.status import delivery_status_view
from tests import factories
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, texts
from tests.harness.slack import ALICE, slack_settings


@dataclass(frozen=True)
class Seller:
    country: str
    language: str
    customer_language: str
    currency: str
    amount: str  # the invoice total (1,200.50 + 20 % tax) as this seller's readers write it
    due: str  # 1 November 2026, likewise
    vat_number: str  # valid in the seller's country: the first start checks it like the settings modal


UK = Seller("GB", "en", "en", "GBP", "£1,440.60", "1 November 2026", "GB123456782")
SWISS = Seller("CH", "de", "de", "CHF", "CHF 1’440.60", "1. November 2026", "CHE107787577MWST")


@pytest.fixture(params=[UK, SWISS], ids=["en_GB", "de_CH"])
def seller(request: pytest.FixtureRequest) -> Seller:
    chosen: Seller = request.param
    return chosen


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi, seller: Seller) -> Settings:
    return slack_settings(
        database_url,
        fake_slack,
        INVOICEBOT_SECRET_KEY="test-verp-secret",
        INVOICEBOT_ORG_COUNTRY=seller.country,
        INVOICEBOT_ORG_TAX_ID=seller.vat_number,
        INVOICEBOT_DEFAULT_LANGUAGE=seller.language,
    )


def plain(text: str) -> str:
    """Spaces as a reader copies them (CLDR puts no-break spaces in amounts and dates)."""
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


async def send_queued(sessions: async_sessionmaker[AsyncSession], smtp: ScriptedSmtpServer) -> None:
    transport = SmtpTransport(
        relay=SmtpRelay(host="127.0.0.1", port=smtp.port, security="none"), timeout=2.0, pool_size=1
    )
    identity = SenderIdentity(
        from_email="invoices@example.com",
        from_name=None,
        reply_to=None,
        bounce_domain="bounces.example.com",
        public_url="http://localhost:3000",
    )
    worker = Worker(
        WorkerParts(sessions=sessions, transport=transport, identity=identity, render_pool=None),
        WorkerTuning(retry=RetryPolicy(max_attempts=3, base_seconds=60), worker_id="formats-test"),
    )
    try:
        assert await worker.drain() == 1
    finally:
        await transport.aclose()


async def test_the_due_list_show_the_modal_the_status_message_the_email_and_the_pdf_write_one_amount_and_date(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    smtp: ScriptedSmtpServer,
    seller: Seller,
):
    customer = await factories.customer(session, org.id, language=seller.customer_language)
    await factories.invoice(
        session, org.id, customer, number="INV-0001", due=date(2026, 11, 1), amount="1200.50", currency=seller.currency
    )
    await session.commit()

    due = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [row] = [text for text in texts(due["blocks"]) if text.startswith("*INV-0001*")]
    assert f"{seller.amount} · " in plain(row) and f"(due {seller.due})" in plain(row)

    await slack.command("show INV-0001", user=ALICE, response_url=fake_slack.response_url("show"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)
    facts = plain(texts(fake_slack.responses_to("show")[0].body["blocks"])[1])
    assert f"*Total:* {seller.amount}" in facts and f"*Due:* {seller.due}" in facts

    view = await open_review(slack, fake_slack, "INV-0001")
    assert plain(texts(view["blocks"])[0]) == f"*INV-0001* · Acme Corp · *{seller.amount}*"
    message = plain(input_blocks(view)[f"review_message.{seller.customer_language}"]["element"]["initial_value"])
    assert seller.amount in message and seller.due in message

    answer = await submit(slack, view, fake_slack=fake_slack)
    assert texts(answer["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
    await send_queued(sessions, smtp)

    [received] = smtp.received
    email = BytesParser(policy=policy.default).parsebytes(received.data)
    text = plain(factories.body_text(email, "plain"))
    assert seller.amount in text and seller.due in text
    [pdf_part] = [part for part in email.iter_attachments() if part.get_filename() == "INV-0001.pdf"]
    pdf = plain(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_part.get_content())).pages))
    assert seller.amount in pdf and seller.due in pdf

    async with sessions() as check:
        delivery_id = (await check.execute(select(Delivery.id))).scalar_one()
        _, blocks = status_message(await delivery_status_view(check, delivery_id=delivery_id))
    assert seller.amount in plain(texts(blocks)[0])


@pytest.mark.parametrize("seller", [UK], ids=["en_GB"])
async def test_slack_writes_for_the_team_while_the_email_in_the_modal_writes_for_the_customer(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, seller: Seller
):
    customer = await factories.customer(session, org.id, language="fr")
    await factories.invoice(session, org.id, customer, number="INV-0001", due=date(2026, 11, 1), amount="1200.50")
    await session.commit()

    due = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    view = await open_review(slack, fake_slack, "INV-0001")

    [row] = [text for text in texts(due["blocks"]) if text.startswith("*INV-0001*")]
    assert "€1,440.60 · " in row and "(due 1 November 2026)" in row
    assert texts(view["blocks"])[0] == "*INV-0001* · Acme Corp · *€1,440.60*"
    message = plain(input_blocks(view)["review_message.fr"]["element"]["initial_value"])
    assert "1 440,60 €" in message and "1 novembre 2026" in message  # French from a UK seller: fr (no fr_GB)
