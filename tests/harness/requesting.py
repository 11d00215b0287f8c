"""Asking the real review service for a send, with fixed inputs: a verified sender, open rules, a fixed now.

`request_send` is `request_delivery` with those defaults (any of them overridable), so a test
names only what it is about.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import Invoice, Organisation, Suppression
from services.errors import FieldErrors
from services.sending.context import SendContext
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryOutcome, DeliveryRequest, request_delivery
from tests import factories

RULES_FOR_TEST = ApprovalRules()  # no sender listed: everyone may change invoices

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
VERIFIED = SendingState(configured=True, verified=True)
OPEN = ApprovalRules()
SECRET = b"verp-secret"
REQUEST = DeliveryRequest(
    invoice_number="INV-0001",
    to=("ap@acme.example",),
    subject="Invoice INV-0001 from Example Trading Ltd",
    message="Dear Acme Corp,\n\nPlease find attached our invoice.",
    requested_by="U1",
    requester_email="alice@example.com",
)


async def acme_invoice(session: AsyncSession, org: Organisation, **kwargs: Any) -> Invoice:
    """An invoice for Acme (factory defaults, `kwargs` override), committed."""
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, **kwargs)
    await session.commit()
    return invoice


def send_context(
    *, rules: ApprovalRules = OPEN, now: datetime = NOW, domain: str = "mail.example.com", secret: bytes = SECRET
) -> SendContext:
    """The SendContext the send services take, its clock stopped at `now` (the test's fixed moment)."""
    return SendContext(rules=rules, message_id_domain=domain, verp_secret=lambda: secret).at(now)


async def request_send(
    session: AsyncSession,
    org: Organisation,
    request: DeliveryRequest = REQUEST,
    *,
    rules: ApprovalRules = OPEN,
    now: datetime = NOW,
    sending: SendingState = VERIFIED,
) -> DeliveryOutcome:
    return await request_delivery(
        session, organisation_id=org.id, request=request, send=send_context(rules=rules, now=now), sending=sending
    )


async def field_errors(session: AsyncSession, org: Organisation, **changes: Any) -> dict[str, str]:
    """The sentences, by field, that refuse `REQUEST` with `changes`."""
    with pytest.raises(FieldErrors) as caught:
        await request_send(session, org, replace(REQUEST, **changes))
    return caught.value.errors


def suppress(session: AsyncSession, org: Organisation, email: str = "ap@acme.example") -> None:
    """`email` on the suppression list since 20 November 2026, 09:00 (a hard bounce); added, not committed."""
    session.add(
        Suppression(
            organisation_id=org.id,
            email=email,
            reason="hard_bounce",
            created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        )
    )
