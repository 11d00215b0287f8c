"""Invoice link tokens: when they open an invoice, and revoking them (services/tracking/links.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import InvoiceStatus, Organisation
from services.errors import NotFound
from services.tracking.links import (
    LINK_NOT_FOUND,
    LinkWithdrawn,
    link_expires_at,
    resolve_invoice_token,
    revoke_invoice_token,
)
from tests.harness.web import make_sent_invoice

ISSUED = date(2026, 10, 1)


async def test_link_lives_max_age_days_from_the_later_of_issue_and_sending(
    session: AsyncSession, org: Organisation
) -> None:
    sent_late = datetime(2026, 12, 15, 9, 30, tzinfo=UTC)
    invoice, _ = await make_sent_invoice(session, org, issue_date=ISSUED, accepted_at=sent_late)
    token = invoice.public_token

    assert link_expires_at(invoice, max_age_days=30) == sent_late + timedelta(days=30)
    found = await resolve_invoice_token(session, token=token, now=sent_late + timedelta(days=29), max_age_days=30)
    assert found.id == invoice.id
    with pytest.raises(NotFound, match="not valid"):
        await resolve_invoice_token(session, token=token, now=sent_late + timedelta(days=30), max_age_days=30)

    invoice.sent_at = None  # never sent: counted from the issue date
    assert link_expires_at(invoice, max_age_days=30) == datetime(2026, 10, 31, tzinfo=UTC)


async def test_drafts_and_odd_tokens_are_not_found_with_the_same_sentence(
    session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org)
    invoice.status = InvoiceStatus.DRAFT
    await session.commit()
    now = datetime(2026, 11, 1, tzinfo=UTC)

    for token in (invoice.public_token, "", "short", "../../etc/passwd", "ä" * 43):
        with pytest.raises(NotFound) as caught:
            await resolve_invoice_token(session, token=token, now=now, max_age_days=365)
        assert str(caught.value) == LINK_NOT_FOUND


async def test_revoking_without_reissue_leaves_no_working_link(session: AsyncSession, org: Organisation) -> None:
    invoice, _ = await make_sent_invoice(session, org, number="INV-9")
    old = invoice.public_token
    now = datetime(2026, 11, 1, tzinfo=UTC)

    await revoke_invoice_token(session, organisation_id=org.id, number="INV-9", actor="U0ALICE", reissue=False)
    await session.commit()

    assert invoice.public_token != old
    for token in (old, invoice.public_token):
        with pytest.raises(LinkWithdrawn, match="withdrawn by the sender"):
            await resolve_invoice_token(session, token=token, now=now, max_age_days=365)
    await revoke_invoice_token(session, organisation_id=org.id, number="INV-9", actor="U0ALICE")
    assert (
        await resolve_invoice_token(session, token=invoice.public_token, now=now, max_age_days=365)
    ).id == invoice.id


async def test_revoking_an_unknown_invoice_says_so(session: AsyncSession, org: Organisation) -> None:
    with pytest.raises(NotFound, match="There is no invoice NOPE"):
        await revoke_invoice_token(session, organisation_id=org.id, number="NOPE", actor="U0ALICE")
