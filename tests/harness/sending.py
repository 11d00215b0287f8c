"""Sends made by the real services and the real worker: the sender, the worker, a queued delivery, an event.

`SECRET` is the VERP secret the queued deliveries are signed with; events recorded with it
find their delivery by its token.
"""

from __future__ import annotations

from dataclasses import fields, replace

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from bot.sandbox.smtp_server import ScriptedSmtpServer
from bot.worker import Worker, WorkerParts, WorkerTuning
from services.db.models import Attachments, Delivery, DeliveryKind, DeliveryStatus, Organisation, utcnow
from services.email.smtp import SmtpTransport
from services.email.transport import Transport
from services.sending.pipeline import SenderIdentity
from services.sending.queue import RetryPolicy
from services.tracking.event_types import IncomingEvent
from services.tracking.events import record_delivery_event
from tests import factories
from tests.harness.reading import channel_messages

SECRET = b"test-secret"
IDENTITY = SenderIdentity(
    from_email="invoices@example.com",
    from_name="Example Trading",
    reply_to="accounts@example.com",
    bounce_domain="bounces.example.com",
    public_url="http://localhost:3000",
)
WITHOUT_REPLY_TO = replace(IDENTITY, reply_to=None)


def make_worker(sessions: async_sessionmaker[AsyncSession], transport: Transport, **kwargs: object) -> Worker:
    """The real worker with the test sender, no render pool, 3 attempts a minute apart (`kwargs` override)."""
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_seconds=60))
    kwargs.setdefault("identity", IDENTITY)
    kwargs.setdefault("worker_id", "test-worker")
    tuned = {f.name for f in fields(WorkerTuning)}
    tuning = WorkerTuning(**{k: v for k, v in kwargs.items() if k in tuned})  # type: ignore[arg-type]
    parts = {k: v for k, v in kwargs.items() if k not in tuned}
    return Worker(WorkerParts(sessions=sessions, transport=transport, render_pool=None, **parts), tuning)  # type: ignore[arg-type]


async def queue_delivery(
    session: AsyncSession,
    org: Organisation,
    *,
    to: tuple[str, ...] = ("ap@acme.example",),
    number: str = "INV-0001",
    attachments: Attachments = Attachments.PDF_UBL,
) -> Delivery:
    return await factories.queued_delivery(
        session, org.id, verp_secret=SECRET, to=to, number=number, attachments=attachments
    )


async def queue_many(session: AsyncSession, org: Organisation, count: int) -> list[str]:
    """`count` queued deliveries (one invoice, no attachments), inserted in bulk; returns their Message-IDs."""
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme)
    now = utcnow()
    rows = [
        {
            "organisation_id": org.id,
            "invoice_id": invoice.id,
            "status": DeliveryStatus.QUEUED,
            "to": ["ap@acme.example"],
            "cc": [],
            "bcc": [],
            "subject": f"Invoice {n}",
            "body_text": "Please find the invoice.",
            "language": "en",
            "attachments": Attachments.NONE,
            "message_id": f"<bulk-{n}@example.com>",
            "verp_token": f"tok{n:06d}",
            "requested_by": "U_ALICE",
            "next_attempt_at": now,
            "recipient_results": {},
        }
        for n in range(count)
    ]
    await session.execute(insert(Delivery), rows)
    await session.commit()
    return [str(row["message_id"]) for row in rows]


async def reload(sessions: async_sessionmaker[AsyncSession], delivery_id: int) -> Delivery:
    return await factories.reload_delivery(sessions, delivery_id)


async def deliveries(session: AsyncSession, kind: DeliveryKind = DeliveryKind.INVOICE) -> list[Delivery]:
    """Every delivery of `kind` as committed now."""
    session.expire_all()
    return list((await session.execute(select(Delivery).where(Delivery.kind == kind.value))).scalars())


async def bounce(
    sessions: async_sessionmaker[AsyncSession],
    delivery: Delivery,
    recipient: str,
    *,
    diagnostic: str | None = None,
    event_id: str | None = None,
) -> None:
    """A hard bounce (5.1.1, user unknown) for `recipient`, recorded as the DSN reader records it."""
    async with sessions() as events:
        await record_delivery_event(
            events,
            event=IncomingEvent(
                source="dsn",
                type="bounced",
                recipient=recipient,
                occurred_at=utcnow(),
                source_event_id=event_id or f"dsn-{delivery.id}-{recipient}",
                raw="",
                bounce_kind="hard",
                status_code="5.1.1",
                diagnostic=diagnostic or f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
                verp_token=delivery.verp_token,
            ),
            now=utcnow(),
            verp_secret=SECRET,
        )
        await events.commit()


async def reported_delivered(sessions: async_sessionmaker[AsyncSession], delivery: Delivery, event_id: str) -> None:
    """Postmark says the email reached ap@acme.example (matched by its Message-ID)."""
    async with sessions() as events:
        await record_delivery_event(
            events,
            event=IncomingEvent(
                source="postmark", type="delivered", recipient="ap@acme.example", occurred_at=utcnow(),
                source_event_id=event_id, raw="", message_id=delivery.message_id,
            ),
            now=utcnow(),
            verp_secret=SECRET,
        )  # fmt: skip
        await events.commit()


async def failed_send(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    smtp: ScriptedSmtpServer,
    transport: SmtpTransport,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
) -> tuple[Delivery, StoredMessage, StoredMessage]:
    """A send refused with 550 for its only recipient, with its status message and its alert."""
    smtp.script.reply_rcpt["ap@acme.example"] = "550 5.1.1 <ap@acme.example>: Recipient address rejected"
    delivery = await queue_delivery(session, org, number="INV-0007")
    await make_worker(sessions, transport).drain()
    assert await notifier.drain_once() == 2
    status, alert = channel_messages(fake_slack)
    return await reload(sessions, delivery.id), status, alert
