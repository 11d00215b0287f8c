"""The customer-facing web app as tests reach it: its secret, a browser's User-Agent, an invoice sent an hour ago.

The fixtures that start it (`start_web`, `web`, `sent_invoice`) are in `tests/web/conftest.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
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
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.sending.checks import new_message_id, new_verp_token

SECRET = "web-test-secret-key-0123456789abcdef"


BROWSER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


@dataclass(frozen=True)
class WebApp:
    url: str
    runtime: Runtime


StartWeb = Callable[..., Awaitable[WebApp]]


async def views_recorded(web: WebApp) -> None:
    """Wait (10 s at most) until the app's view recorder has written every hit it was given."""
    async with asyncio.timeout(10):
        await web.runtime.view_recorder.drained()


async def make_sent_invoice(
    session: AsyncSession,
    org: Organisation,
    *,
    number: str = "INV-2026-0042",
    issue_date: date = date(2026, 10, 1),
    due_date: date | None = None,
    accepted_at: datetime | None = None,
    language: str = "en",
    lines: list[LineData] | None = None,
) -> tuple[Invoice, Delivery]:
    """An invoice with three lines at two VAT rates (or `lines`), sent by email and accepted by the relay."""
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
        data=InvoiceData(
            number=number,
            issue_date=issue_date,
            due_date=due_date or utcnow().date() + timedelta(days=14),
            currency="EUR",
            lines=lines
            or [
                LineData("Consulting, October 2026", Decimal(12), Decimal("95.00"), Decimal(21)),
                LineData("Hosting plan (annual)", Decimal(1), Decimal("480.00"), Decimal(21)),
                LineData("Printed manuals", Decimal(3), Decimal("12.50"), Decimal(6)),
            ],
            status=InvoiceStatus.VALIDATED,
        ),
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
