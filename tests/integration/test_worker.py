"""The send worker against a real SMTP server on 127.0.0.1 (aiosmtpd with scripted replies).

Each test creates a delivery through the real review service, lets the real worker send it
over the real SMTP transport, and asserts what the server received and what the database says.
"""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

from sqlalchemy import func, select

from services.db.models import (
    Attachments,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Notification,
    utcnow,
)
from services.documents.validation import validate_ubl_xsd
from services.sending.queue import recover_stale
from tests.harness.sending import IDENTITY, make_worker, queue_delivery, reload


async def test_an_accepted_invoice_arrives_once_well_formed_and_the_invoice_becomes_sent(
    session, sessions, org, smtp, transport
):
    delivery = await queue_delivery(session, org)
    worker = make_worker(sessions, transport)

    assert await worker.drain() == 1
    assert await worker.drain() == 0  # nothing left: the email is never sent twice

    [received] = smtp.received
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert received.mail_from == f"bounces+{delivery.verp_token}@bounces.example.com"
    assert received.recipients == ["ap@acme.example"]
    assert message["Message-ID"] == delivery.message_id
    assert message["Subject"] == "Invoice INV-0001"
    assert message["Reply-To"] == "accounts@example.com"
    assert "Example Trading" in message["From"]
    assert message["X-Invoicebot-Delivery"]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "please find invoice INV-0001 attached" in text.get_content()
    assert "INV-0001" in html.get_content()
    files = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(files) == {"INV-0001.pdf", "INV-0001.xml"}
    assert files["INV-0001.pdf"].get_content().startswith(b"%PDF")
    assert validate_ubl_xsd(files["INV-0001.xml"].get_content()) == []

    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.ACCEPTED
    assert stored.smtp_reply and received.queue_id in stored.smtp_reply
    assert stored.recipient_results["ap@acme.example"]["status"] == "accepted"
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.SENT and invoice.sent_via == "email"
        owed = await check.scalar(
            select(func.count()).select_from(Notification).where(Notification.delivery_id == delivery.id)
        )
        assert owed >= 1


async def test_a_4xx_on_rcpt_defers_with_backoff_then_fails_after_the_last_attempt(
    session, sessions, org, smtp, transport
):
    smtp.script.reply_rcpt["ap@acme.example"] = "450 4.2.1 Mailbox busy, try later"
    delivery = await queue_delivery(session, org)
    clock = {"now": utcnow()}
    worker = make_worker(sessions, transport, clock=lambda: clock["now"])

    await worker.drain()
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED
    assert "450 4.2.1" in (stored.last_error or "")
    assert stored.next_attempt_at is not None and stored.next_attempt_at > clock["now"] + timedelta(seconds=29)
    assert await worker.drain() == 0  # not due yet

    for _ in range(2):
        clock["now"] += timedelta(hours=2)
        await worker.drain()
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED
    assert stored.attempts == 3
    assert "gave up after 3 attempts" in (stored.last_error or "")
    assert smtp.received == []


async def test_a_5xx_for_one_of_two_recipients_fails_that_one_with_the_servers_reply(
    session, sessions, org, smtp, transport
):
    smtp.script.reply_rcpt["gone@acme.example"] = "550 5.1.1 No such user"
    delivery = await queue_delivery(session, org, to=("ap@acme.example", "gone@acme.example"))
    await make_worker(sessions, transport).drain()

    [received] = smtp.received
    assert received.recipients == ["ap@acme.example"]
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.ACCEPTED
    assert stored.recipient_results["gone@acme.example"] == {"status": "failed", "reply": "550 5.1.1 No such user"}
    async with sessions() as check:
        events = (
            await check.execute(
                select(DeliveryEvent.type, DeliveryEvent.recipient).where(DeliveryEvent.delivery_id == delivery.id)
            )
        ).all()
    assert ("failed", "gone@acme.example") in events and ("accepted", "ap@acme.example") in events


async def test_a_5xx_for_every_recipient_fails_the_delivery_and_keeps_the_invoice_unsent(
    session, sessions, org, smtp, transport
):
    smtp.script.reply_rcpt["ap@acme.example"] = "550 5.1.1 No such user"
    delivery = await queue_delivery(session, org)
    await make_worker(sessions, transport).drain()
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED
    assert "550 5.1.1" in (stored.last_error or "")
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.VALIDATED


async def test_a_4xx_on_data_is_retried(session, sessions, org, smtp, transport):
    smtp.script.reply_data_once = "451 4.3.0 Temporary local problem"
    delivery = await queue_delivery(session, org)
    clock = {"now": utcnow()}
    worker = make_worker(sessions, transport, clock=lambda: clock["now"])
    await worker.drain()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.DEFERRED
    clock["now"] += timedelta(hours=1)
    await worker.drain()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
    assert len(smtp.received) == 1


async def test_one_421_then_disconnect_reconnects_and_sends_once(session, sessions, org, smtp, transport):
    smtp.script.reply_mail_once = "421 4.7.0 Too many connections, closing"
    delivery = await queue_delivery(session, org)
    await make_worker(sessions, transport).drain()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
    assert len(smtp.received) == 1


async def test_a_server_that_keeps_answering_421_defers(session, sessions, org, smtp, transport):
    smtp.script.reply_mail = "421 4.7.0 Too many connections, closing"
    delivery = await queue_delivery(session, org)
    await make_worker(sessions, transport).drain()
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED
    assert "421" in (stored.last_error or "")
    assert smtp.received == []


async def test_a_server_that_hangs_before_data_defers_and_one_that_hangs_after_data_is_unknown(
    session, sessions, org, smtp, transport
):
    smtp.script.hang_on = "RCPT"
    first = await queue_delivery(session, org, number="INV-0001")
    worker = make_worker(sessions, transport)
    await worker.drain()
    assert (await reload(sessions, first.id)).status == DeliveryStatus.DEFERRED

    smtp.script.hang_on = "END_OF_DATA"
    second = await queue_delivery(session, org, number="INV-0002")
    await worker.drain()
    stored = await reload(sessions, second.id)
    assert stored.status == DeliveryStatus.UNKNOWN
    assert stored.data_started_at is not None


async def test_a_connection_dropped_after_data_is_unknown_and_never_resent(session, sessions, org, smtp, transport):
    smtp.script.drop_after_data = True
    delivery = await queue_delivery(session, org)
    clock = {"now": utcnow()}
    worker = make_worker(sessions, transport, clock=lambda: clock["now"])
    await worker.drain()
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.UNKNOWN
    clock["now"] += timedelta(days=1)
    assert await worker.drain() == 0
    await worker.recover()
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.UNKNOWN


async def test_stale_sending_rows_are_requeued_before_data_and_unknown_after(session, sessions, org):
    before = await queue_delivery(session, org, number="INV-0001")
    after = await queue_delivery(session, org, number="INV-0002")
    past = utcnow() - timedelta(hours=1)
    for row, data_started in ((before, None), (after, past)):
        stored = await session.get(Delivery, row.id)
        assert stored is not None
        stored.status = DeliveryStatus.SENDING
        stored.claimed_at = past
        stored.claimed_by = "dead-worker"
        stored.data_started_at = data_started
    await session.commit()

    async with sessions() as recovery:
        assert await recover_stale(recovery, now=utcnow(), stale_after=timedelta(minutes=10), max_attempts=8) == (
            1,
            1,
            0,
        )
    assert (await reload(sessions, before.id)).status == DeliveryStatus.QUEUED
    assert (await reload(sessions, after.id)).status == DeliveryStatus.UNKNOWN


async def test_the_open_pixel_is_in_the_html_only_when_switched_on(session, sessions, org, smtp, transport):
    from dataclasses import replace

    first = await queue_delivery(session, org, number="INV-0001", attachments=Attachments.NONE)
    await make_worker(sessions, transport).drain()
    second = await queue_delivery(session, org, number="INV-0002", attachments=Attachments.NONE)
    worker = make_worker(sessions, transport)
    worker.identity = replace(IDENTITY, open_pixel=True)
    await worker.drain()

    bodies = [
        BytesParser(policy=policy.default).parsebytes(m.data).get_body(preferencelist=("html",)) for m in smtp.received
    ]
    htmls = [body.get_content() for body in bodies if body is not None]
    assert f"/o/{first.verp_token}.gif" not in htmls[0]
    assert f"http://localhost:3000/o/{second.verp_token}.gif" in htmls[1]
