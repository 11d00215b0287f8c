"""The bulk-send benchmark's data: validated invoices with one queued delivery each, and their render jobs."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from decimal import Decimal

from sqlalchemy import insert, select, text

from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import Attachments, Delivery, DeliveryStatus, InvoiceStatus, Organisation, SmtpStatus, utcnow
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.sending.pipeline import RenderJob, SenderIdentity, build_render_job

IDENTITY = SenderIdentity(
    from_email="invoices@example.com",
    from_name="Example Trading",
    reply_to=None,
    bounce_domain="example.com",
    public_url="http://localhost:3000",
)


async def build_data(url: str, invoices: int) -> None:
    """A fresh schema with `invoices` validated invoices (10–30 lines) and one queued delivery each."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    rng = random.Random(7)
    async with sessions() as session:
        org = Organisation(
            name="Example Trading Ltd",
            street="1 Example Street",
            city="London",
            postal_code="EC1A 1AA",
            tax_id="GB123456789",
            country="GB",
            sender_email="invoices@example.com",
            smtp_status=SmtpStatus.VERIFIED,
            iban="GB33BUKB20201555555555",
            bic="BUKBGB22",
        )
        session.add(org)
        await session.flush()
        customers = [
            await upsert_customer(
                session,
                organisation_id=org.id,
                data=CustomerData(
                    ref=f"C{n}",
                    name=f"Customer {n} GmbH",
                    emails=[f"ap{n}@customer{n}.example"],
                    language=rng.choice(["en", "fr", "de", "nl", "es", "it"]),
                    street=f"Hauptstraße {n}",
                    city="Berlin",
                    postal_code="10115",
                    country="DE",
                    tax_id=f"DE{100000000 + n}",
                ),
            )
            for n in range(50)
        ]
        ids: list[tuple[int, str]] = []
        for n in range(invoices):
            lines = [
                LineData(
                    f"Consulting services, item {k}",
                    Decimal(rng.randint(1, 20)),
                    Decimal(rng.randint(1000, 90000)) / 100,
                    Decimal(rng.choice([20, 5, 0])),
                )
                for k in range(rng.randint(10, 30))
            ]
            invoice = await create_invoice(
                session,
                organisation_id=org.id,
                customer=customers[n % len(customers)],
                data=InvoiceData(
                    number=f"B-{n:06d}",
                    issue_date=date(2026, 11, 1),
                    due_date=date(2026, 11, 30),
                    currency="EUR",
                    lines=lines,
                    status=InvoiceStatus.VALIDATED,
                ),
            )
            ids.append((invoice.id, customers[n % len(customers)].emails[0]))
            if n % 500 == 499:
                await session.commit()
        now = utcnow()
        await session.execute(
            insert(Delivery),
            [
                {
                    "organisation_id": org.id,
                    "invoice_id": invoice_id,
                    "status": DeliveryStatus.QUEUED,
                    "to": [address],
                    "cc": [],
                    "bcc": [],
                    "subject": f"Invoice {n}",
                    "body_text": "Dear customer,\n\nplease find your invoice attached.\n\nKind regards",
                    "language": "en",
                    "attachments": Attachments.PDF_UBL,
                    "message_id": f"<bench-{n}@example.com>",
                    "verp_token": f"bench{n:07d}",
                    "requested_by": "U_BENCH",
                    "next_attempt_at": now,
                    "recipient_results": {},
                }
                for n, (invoice_id, address) in enumerate(ids)
            ],
        )
        await session.commit()
    await engine.dispose()


async def prepare_jobs(url: str, count: int) -> list[RenderJob]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        deliveries = (await session.execute(select(Delivery).order_by(Delivery.id).limit(count))).scalars().all()
        jobs = [await build_render_job(session, delivery=d, identity=IDENTITY) for d in deliveries]
    await engine.dispose()
    return jobs
