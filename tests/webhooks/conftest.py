"""The real web app (as `bot.bootstrap` builds it, webhook routes included) under uvicorn on 127.0.0.1.

Every provider is configured with test secrets; the SNS certificate and SubscribeURL are
served by `AwsStandIn`, which the app is told to trust (production trusts only
`https://sns.<region>.amazonaws.com`). The app fetches them with its real HTTP fetcher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime, Seams, bootstrap
from bot.config import Settings, load_settings
from services.db.models import Delivery, DeliveryStatus, Organisation, utcnow
from services.sending.checks import new_message_id, new_verp_token
from tests import factories
from tests.harness.providers import (
    MAILGUN_SIGNING_KEY,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    TOPIC_ARN,
    AwsStandIn,
    SendGridSigner,
    SnsSigner,
)
from tests.harness.servers import serving

SECRET_KEY = "test-verp-secret-for-webhooks-0123456789"


@pytest.fixture
def sendgrid_signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture(scope="session")
def sns_signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
async def aws(sns_signer: SnsSigner) -> AsyncIterator[AwsStandIn]:
    stand_in = AwsStandIn(sns_signer.certificate_pem)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def settings(database_url: str, sendgrid_signer: SendGridSigner) -> Settings:
    return load_settings(
        DATABASE_URL=database_url,
        INVOICEBOT_SECRET_KEY=SECRET_KEY,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_POSTMARK_WEBHOOK_USER=POSTMARK_USER,
        INVOICEBOT_POSTMARK_WEBHOOK_PASSWORD=POSTMARK_PASSWORD,
        INVOICEBOT_SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid_signer.public_key_base64,
        INVOICEBOT_MAILGUN_SIGNING_KEY=MAILGUN_SIGNING_KEY,
        INVOICEBOT_SES_TOPIC_ARNS=f"{TOPIC_ARN}, arn:aws:sns:us-east-1:123456789012:other",
    )


@pytest.fixture
async def runtime(settings: Settings, org: Organisation, aws: AwsStandIn) -> AsyncIterator[Runtime]:
    """The runtime production builds, trusting the local AWS stand-in's certificate URLs."""
    built = bootstrap(settings, seams=Seams(sns_trusts_url=aws.trusts))
    yield built
    await built.aclose()


@pytest.fixture
async def web_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(runtime.web_app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def delivery(session: AsyncSession, org: Organisation) -> Delivery:
    """An invoice email the SMTP relay accepted for two recipients, waiting for news."""
    owner = await factories.customer(session, org.id, emails=("ap@acme.example", "finance@acme.example"))
    invoice = await factories.invoice(session, org.id, owner)
    now = utcnow()
    row = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=DeliveryStatus.ACCEPTED,
        to=["ap@acme.example", "finance@acme.example"],
        cc=["boss@acme.example"],
        subject="Invoice INV-0001",
        message_id=new_message_id(invoice.number, "example.com"),
        verp_token=new_verp_token(SECRET_KEY.encode()),
        requested_by="U0ALICE",
        attempts=1,
        smtp_reply="250 2.0.0 Ok: queued as 4XyZ",
        recipient_results={
            address: {"status": "accepted"}
            for address in ("ap@acme.example", "finance@acme.example", "boss@acme.example")
        },
        created_at=now - timedelta(minutes=2),
        finished_at=now - timedelta(minutes=1),
    )
    session.add(row)
    await session.commit()
    return row
