"""Invoices put in place before a test clicks: what the *due* list and the review modal start from.

Built with `tests.factories` (the real services), committed, dated against the app's `TODAY`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import InvoiceStatus, Organisation
from tests import factories
from tests.harness.slack import TODAY


async def seed_invoice(session: AsyncSession, org: Organisation, **customer: Any) -> None:
    """INV-0001 for Acme (or the customer `customer` describes), validated, 1200.50 a line."""
    acme = await factories.customer(session, org.id, **customer)
    await factories.invoice(session, org.id, acme, number="INV-0001", amount="1200.50")
    await session.commit()


async def seed_overdue(session: AsyncSession, org: Organisation, count: int = 3) -> None:
    """`count` validated invoices for Acme, INV-0001 the most overdue, the last due yesterday."""
    acme = await factories.customer(session, org.id)
    for n in range(count):
        await factories.invoice(
            session, org.id, acme, number=f"INV-{n + 1:04d}", due=TODAY - timedelta(days=count - n), amount="1200.50"
        )
    await session.commit()


async def seed_ready_and_draft(session: AsyncSession, org: Organisation) -> None:
    """Two invoices ready to send (Acme's A-1, Globex's G-1 to two addresses) and a draft (D-1)."""
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(
        session, org.id, ref="GLOBEX", name="Globex", emails=("ap@globex.example", "cfo@globex.example")
    )
    await factories.invoice(session, org.id, acme, number="A-1", due=TODAY - timedelta(days=3))
    await factories.invoice(session, org.id, globex, number="G-1", due=TODAY - timedelta(days=2))
    await factories.invoice(session, org.id, acme, number="D-1", due=TODAY, status=InvoiceStatus.DRAFT)
    await session.commit()
