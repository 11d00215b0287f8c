"""The real web app under uvicorn on 127.0.0.1, built from `Settings` as production builds it.

No Slack here: the customer-facing pages need only the database. `start_web(**settings)`
starts one server with extra settings (e.g. `INVOICEBOT_OPEN_PIXEL="true"`); `web` is the
default one. `sent_invoice` is an invoice emailed an hour ago: a delivery the SMTP
server accepted, so views have something to land on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import load_settings
from bot.container import Container
from bot.runner import bound_port, web_server
from services.db.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    SentVia,
    utcnow,
)
from services.delivery_checks import new_message_id, new_verp_token
from services.invoice_entry import CustomerData, LineData, create_invoice, upsert_customer

SECRET = "web-test-secret-key-0123456789abcdef"
BROWSER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


@dataclass(frozen=True)
class WebApp:
    url: str
    container: Container


StartWeb = Callable[..., Awaitable[WebApp]]


async def _serve(server: uvicorn.Server) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        await asyncio.sleep(0.01)
    return task


async def views_recorded(web: WebApp) -> None:
    """Wait (10 s at most) until the app's view recorder has written every hit it was given."""
    async with asyncio.timeout(10):
        await web.container.view_recorder().drained()


@pytest.fixture
async def start_web(database_url: str, org: Organisation) -> AsyncIterator[StartWeb]:
    running: list[tuple[uvicorn.Server, asyncio.Task[None], Container]] = []

    async def start(**overrides: str) -> WebApp:
        settings = load_settings(
            DATABASE_URL=database_url,
            INVOICEBOT_SECRET_KEY=SECRET,
            INVOICEBOT_HTTP_PORT=0,
            **overrides,
        )
        container = Container.build(settings)
        server = web_server(container, slack_app=None, host="127.0.0.1", port=0, log_level="warning")
        task = await _serve(server)
        running.append((server, task, container))
        return WebApp(url=f"http://127.0.0.1:{bound_port(server)}", container=container)

    yield start
    for server, task, container in running:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        await container.close()


@pytest.fixture
async def web(start_web: StartWeb) -> WebApp:
    return await start_web()


async def make_sent_invoice(
    session: AsyncSession,
    org: Organisation,
    *,
    number: str = "INV-2026-0042",
    issue_date: date = date(2026, 10, 1),
    due_date: date | None = None,
    accepted_at: datetime | None = None,
    language: str = "en",
) -> tuple[Invoice, Delivery]:
    """An invoice with three lines at two VAT rates, sent by email and accepted by the relay."""
    org.iban = "BE71 0961 2345 6769"
    org.bic = "GKCCBEBB"
    customer = await upsert_customer(
        session,
        organisation_id=org.id,
        data=CustomerData(
            ref="ACME",
            name="Acme Corp <Europe> & Co",
            emails=("ap@acme.example",),
            language=language,
            street="Rue de la Loi 16",
            city="Brussels",
            postal_code="1000",
            country="BE",
            tax_id="BE0123456789",
        ),
    )
    invoice = await create_invoice(
        session,
        organisation_id=org.id,
        customer=customer,
        number=number,
        issue_date=issue_date,
        due_date=due_date or utcnow().date() + timedelta(days=14),
        currency="EUR",
        lines=[
            LineData("Consulting, October 2026", Decimal(12), Decimal("95.00"), Decimal(21)),
            LineData("Hosting plan (annual)", Decimal(1), Decimal("480.00"), Decimal(21)),
            LineData("Printed manuals", Decimal(3), Decimal("12.50"), Decimal(6)),
        ],
        status=InvoiceStatus.VALIDATED,
    )
    accepted = accepted_at or utcnow() - timedelta(hours=1)
    invoice.status = InvoiceStatus.SENT
    invoice.sent_at = accepted
    invoice.sent_via = SentVia.EMAIL
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        kind=DeliveryKind.INVOICE,
        status=DeliveryStatus.ACCEPTED,
        to=["ap@acme.example"],
        subject=f"Invoice {number}",
        message_id=new_message_id(number, "example.com"),
        verp_token=new_verp_token(SECRET.encode()),
        requested_by="U0ALICE",
        attempts=1,
        finished_at=accepted,
        smtp_reply="250 2.0.0 Ok: queued as 4Xy",
    )
    session.add(delivery)
    await session.commit()
    return invoice, delivery


@pytest.fixture
async def sent_invoice(session: AsyncSession, org: Organisation) -> tuple[Invoice, Delivery]:
    return await make_sent_invoice(session, org)
