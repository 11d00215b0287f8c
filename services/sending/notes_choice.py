"""Whether the customer sees an invoice's notes: the choice made when it was last sent.

The review modal's "Show notes on the invoice page" is stored on each delivery
(`Delivery.show_notes`); the email's PDF and UBL follow their own delivery's choice
(services.sending.pipeline), and the link page and its downloads follow the latest send the
customer was actually offered. Internal notes are never shown, whatever the choice
(services.documents.model drops them when it builds the document).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryKind, DeliveryStatus

# Sends the customer was never offered: a request still waiting for approval, or one refused or withdrawn.
NOT_OFFERED = (DeliveryStatus.AWAITING_APPROVAL, DeliveryStatus.REJECTED, DeliveryStatus.CANCELLED)


async def notes_shown(session: AsyncSession, *, invoice_id: int) -> bool:
    """The latest customer send's choice; True when the invoice was never sent by email (as before)."""
    choice = await session.scalar(
        select(Delivery.show_notes)
        .where(
            Delivery.invoice_id == invoice_id,
            Delivery.kind == DeliveryKind.INVOICE,
            Delivery.status.not_in(NOT_OFFERED),
        )
        .order_by(Delivery.id.desc())
        .limit(1)
    )
    return True if choice is None else bool(choice)
