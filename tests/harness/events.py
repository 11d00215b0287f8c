"""Delivery events filed by the real service: a delivery the SMTP server accepted, an event about it, a fixed now.

`record` files one event with the test's VERP secret and commits, as the webhook and bounce doors do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryStatus, Notification, Organisation
from services.sending.checks import new_message_id, new_verp_token
from services.tracking.event_types import IncomingEvent
from services.tracking.events import RecordedEvent, record_delivery_event
from tests import factories

SECRET = b"verp-test-secret"


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def sent_delivery(
    session: AsyncSession, org: Organisation, *, to: tuple[str, ...] = ("ap@acme.example",), number: str = "INV-0001"
) -> Delivery:
    """A delivery the SMTP server accepted for every recipient, as the worker leaves it."""
    customer = await factories.customer(session, org.id, ref=f"C-{number}", emails=to)
    invoice = await factories.invoice(session, org.id, customer, number=number)
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=DeliveryStatus.ACCEPTED,
        to=list(to),
        subject=f"Invoice {number}",
        message_id=new_message_id(number, "example.com"),
        verp_token=new_verp_token(SECRET),
        requested_by="U1",
        attempts=1,
        next_attempt_at=NOW - timedelta(minutes=5),
        finished_at=NOW - timedelta(minutes=5),
        recipient_results={address: {"status": "accepted", "reply": "250 2.0.0 Ok"} for address in to},
    )
    session.add(delivery)
    await session.commit()
    return delivery


def event(type_: str, recipient: str | None = "ap@acme.example", **fields: Any) -> IncomingEvent:
    values: dict[str, Any] = {
        "source": "sendgrid",
        "type": type_,
        "recipient": recipient,
        "occurred_at": NOW,
        "source_event_id": f"evt-{type_}-{recipient}-{fields.get('bounce_kind')}",
        "raw": "{}",
    }
    return IncomingEvent(**(values | fields))


async def record(session: AsyncSession, incoming: IncomingEvent, **kwargs: Any) -> RecordedEvent:
    recorded = await record_delivery_event(session, event=incoming, now=NOW, verp_secret=SECRET, **kwargs)
    await session.commit()
    return recorded


async def notifications(session: AsyncSession, kind: str) -> list[Notification]:
    rows = await session.execute(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
    return list(rows.scalars())


async def reload(session: AsyncSession, delivery: Delivery) -> Delivery:
    await session.refresh(delivery)
    return delivery
