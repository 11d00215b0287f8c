"""Small builders for test data, over the real services (no fakes of our own modules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.authorization import ApprovalRules
from services.db.models import Attachments, Customer, Delivery, Invoice, InvoiceStatus
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.sending.context import SendContext
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery


async def customer(
    session: AsyncSession,
    organisation_id: int,
    *,
    ref: str = "ACME",
    name: str = "Acme Corp",
    emails: tuple[str, ...] = ("ap@acme.example",),
    language: str = "en",
    country: str | None = "BE",
) -> Customer:
    return await upsert_customer(
        session,
        organisation_id=organisation_id,
        data=CustomerData(ref=ref, name=name, emails=emails, language=language, country=country),
    )


async def invoice(
    session: AsyncSession,
    organisation_id: int,
    owner: Customer,
    *,
    number: str = "INV-0001",
    due: date = date(2026, 11, 1),
    status: InvoiceStatus = InvoiceStatus.VALIDATED,
    amount: str = "100.00",
    currency: str = "EUR",
) -> Invoice:
    return await create_invoice(
        session,
        organisation_id=organisation_id,
        customer=owner,
        data=InvoiceData(
            number=number,
            issue_date=date(2026, 10, 1),
            due_date=due,
            currency=currency,
            lines=[LineData("Consulting", Decimal(1), Decimal(amount), Decimal(20))],
            status=status,
        ),
    )


async def queued_delivery(
    session: AsyncSession,
    organisation_id: int,
    *,
    verp_secret: bytes,
    to: tuple[str, ...] = ("ap@acme.example",),
    number: str = "INV-0001",
    customer_ref: str | None = None,
    attachments: Attachments = Attachments.PDF_UBL,
) -> Delivery:
    """A validated invoice for a customer with `to`, queued through the real review service."""
    owner = await customer(session, organisation_id, ref=customer_ref or f"C-{number}", emails=to)
    await invoice(session, organisation_id, owner, number=number)
    await session.commit()
    outcome = await request_delivery(
        session,
        organisation_id=organisation_id,
        request=DeliveryRequest(
            invoice_number=number,
            to=to,
            subject=f"Invoice {number}",
            message=f"Dear customer,\n\nplease find invoice {number} attached.\n",
            attachments=attachments,
            requested_by="U_ALICE",
        ),
        sending=SendingState(configured=True, verified=True),
        send=SendContext(rules=ApprovalRules(), message_id_domain="example.com", verp_secret=lambda: verp_secret),
    )
    await session.commit()
    return outcome.delivery


async def reload_delivery(sessions: async_sessionmaker[AsyncSession], delivery_id: int) -> Delivery:
    """The delivery as committed now, read in a fresh session."""
    async with sessions() as session:
        found = await session.get(Delivery, delivery_id)
        assert found is not None
        return found


def body_text(message: EmailMessage, subtype: str) -> str:
    """The text/plain or text/html body of a parsed email, as a mail client shows it."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"the email has no text/{subtype} body"
    content: str = part.get_content()
    return content
