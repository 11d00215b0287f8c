"""The customer's invoice link (`/i/<token>`): finding the invoice behind a token, and revoking it.

A token is the invoice's `public_token`: 256 random bits, URL-safe. Whoever holds it may
see that one invoice, so every reason a token does not open an invoice — unknown, revoked,
expired, not issued yet — raises the same `NotFound` with the same sentence: a caller
(and so a stranger guessing tokens) can never tell which it was.

Expiry is counted from the later of the issue date and the date the invoice was sent, so
an invoice emailed months after it was issued still gets its full `max_age_days`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import record_audit
from services.db.models import Invoice, InvoiceStatus, new_public_token, utcnow
from services.errors import NotFound

LINK_NOT_FOUND = "This invoice link is not valid. It may have expired or been replaced by a newer one."

# `secrets.token_urlsafe(32)` gives 43 characters; anything unlike a token is refused before any query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def link_expires_at(invoice: Invoice, *, max_age_days: int) -> datetime:
    """When the invoice's link stops working: `max_age_days` after it was issued or sent, whichever is later."""
    issued = datetime.combine(invoice.issue_date, time.min, tzinfo=UTC)
    start = max(issued, invoice.sent_at) if invoice.sent_at is not None else issued
    return start + timedelta(days=max_age_days)


async def resolve_invoice_token(session: AsyncSession, *, token: str, now: datetime, max_age_days: int) -> Invoice:
    """The invoice a customer's link points at, or `NotFound` (one message for every reason).

    Drafts are not shown either: an invoice is only public once it has been issued.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        raise NotFound(LINK_NOT_FOUND)
    invoice = (await session.execute(select(Invoice).where(Invoice.public_token == token))).scalar_one_or_none()
    if (
        invoice is None
        or invoice.token_revoked_at is not None
        or invoice.status == InvoiceStatus.DRAFT
        or now >= link_expires_at(invoice, max_age_days=max_age_days)
    ):
        raise NotFound(LINK_NOT_FOUND)
    return invoice


async def revoke_invoice_token(
    session: AsyncSession,
    *,
    organisation_id: int,
    number: str,
    actor: str,
    reissue: bool = True,
    now: datetime | None = None,
) -> Invoice:
    """Make every link sent so far stop working, and say who did it in the audit log.

    The invoice always gets a fresh token, so the old one can never come back. With
    `reissue` (the default) the fresh link works at once and the next email carries it;
    without, the invoice has no working link until `revoke_invoice_token` is called again
    with `reissue=True`. Does not commit: the caller's transaction holds the change and its
    audit entry together.
    """
    invoice = (
        await session.execute(
            select(Invoice).where(Invoice.organisation_id == organisation_id, Invoice.number == number)
        )
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"There is no invoice {number}.")
    invoice.public_token = new_public_token()
    invoice.token_revoked_at = None if reissue else (now or utcnow())
    record_audit(
        session,
        organisation_id=organisation_id,
        actor=actor,
        action="invoice_link_revoked",
        subject_type="invoice",
        subject_id=invoice.id,
        detail={"number": invoice.number, "reissued": reissue},
    )
    await session.flush()
    return invoice
