"""Reminder emails (kind REMINDER) through the real worker, the real SMTP transport and aiosmtpd.

What the customer receives is parsed from what the SMTP server got: one email listing the
invoices still owed when it went, with each one's PDF; none when every invoice was paid first
(the delivery is cancelled with the reason); none when a payment commits between preparing it
and DATA (the data-start mark re-checks with the invoice rows locked); and a refusal raises an
alert in Slack naming the reminder, as an invoice's does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from services.authorization import ApprovalRules
from services.db.models import DeliveryStatus, Invoice, InvoiceStatus, PaymentSource, utcnow
from services.email.transport import Envelope, SendResult, Transport
from services.errors import IllegalTransition
from services.invoicing.payments import PaymentRequest, record_payment
from services.reminders.stops import mark_disputed
from services.tracking.alert_actions import prepare_fix
from services.unit_of_work import units_over
from tests.harness.reading import channel_messages
from tests.harness.reminder_sends import queued_reminder
from tests.harness.sending import IDENTITY, bounce, make_worker, reload
from tests.services.reminders.ledger import pay


def _parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def _pdfs(message: EmailMessage) -> list[str]:
    return [
        str(part.get_filename())
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf" and part.get_content().startswith(b"%PDF")
    ]


async def test_a_queued_reminder_goes_out_once_listing_both_invoices_with_both_pdfs(
    session, sessions, org, smtp, transport
):
    delivery = await queued_reminder(session, org)
    worker = make_worker(sessions, transport)

    assert await worker.drain() == 1
    assert await worker.drain() == 0

    [received] = smtp.received
    assert received.recipients == ["ap@acme.example"]
    message = _parsed(received.data)
    assert message["Message-ID"] == delivery.message_id
    assert "INV-R1" in message["Subject"] and "INV-R2" in message["Subject"]
    html = _html(message)
    assert "INV-R1" in html and "INV-R2" in html and "Acme Corp" in html
    assert "Invoice INV-R1" not in html  # its own HTML, not the invoice email's layout rebuilt from the text
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "Rendered at dispatch" not in text.get_content()  # the facts as of now
    assert _pdfs(message) == ["INV-R1.pdf", "INV-R2.pdf"]
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.ACCEPTED
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.SENT  # a reminder never moves its invoice


async def test_an_invoice_paid_before_the_claim_is_left_out_of_the_email(session, sessions, org, smtp, transport):
    await queued_reminder(session, org)
    await pay(session, org.id, "INV-R1")

    await make_worker(sessions, transport).drain()

    [received] = smtp.received
    message = _parsed(received.data)
    html = _html(message)
    assert "INV-R2" in html and "INV-R1" not in html
    assert "INV-R1" not in message["Subject"]
    assert _pdfs(message) == ["INV-R2.pdf"]


async def test_a_reminder_whose_invoices_were_all_paid_is_cancelled_with_the_reason_and_no_email(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    delivery = await queued_reminder(session, org)
    await pay(session, org.id, "INV-R1")
    await pay(session, org.id, "INV-R2")

    await make_worker(sessions, transport).drain()

    assert smtp.received == []
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.CANCELLED
    assert stored.last_error == (
        "INV-R1 was paid before the reminder went out. INV-R2 was paid before the reminder went out."
    )
    await notifier.drain_once()
    [status] = channel_messages(fake_slack)
    assert "Reminder to Acme Corp for INV-R1, INV-R2" in status.text
    assert "Cancelled — nothing was sent" in status.text
    assert "INV-R1 was paid before the reminder went out" in str(status.blocks)


class PaysBeforeData:
    """The real SMTP transport, with a payment committed after RCPT and before the data-start mark."""

    def __init__(self, inner: Transport, pay_now: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.pay_now = pay_now
        self.paid = 0

    async def send(self, envelope: Envelope, message: Any, *, before_data: Any = None) -> SendResult:
        async def paid_then_mark() -> None:
            if not self.paid:
                self.paid += 1
                await self.pay_now()
            await before_data()

        return await self.inner.send(envelope, message, before_data=paid_then_mark)

    async def verify(self) -> Any:
        return await self.inner.verify()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_payment_committed_between_preparing_and_data_stops_that_email(session, sessions, org, smtp, transport):
    delivery = await queued_reminder(session, org)

    async def pay_inv_r1() -> None:
        async with sessions() as other:
            await pay(other, org.id, "INV-R1")

    clock = {"now": utcnow()}
    racing = PaysBeforeData(transport, pay_inv_r1)
    worker = make_worker(sessions, racing, clock=lambda: clock["now"])

    await worker.drain()

    assert racing.paid == 1
    assert smtp.received == []  # the payment committed first: no reminder for INV-R1 went out
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED
    assert stored.data_started_at is None
    assert "INV-R1 was paid before the reminder went out" in (stored.last_error or "")

    clock["now"] += timedelta(hours=2)
    await worker.drain()  # prepared again: without the paid invoice
    [received] = smtp.received
    message = _parsed(received.data)
    assert "INV-R2" in _html(message) and "INV-R1" not in _html(message)
    assert _pdfs(message) == ["INV-R2.pdf"]


async def test_a_payment_in_flight_at_the_mark_wins_the_mark_waits_for_it_and_no_email_goes(
    session, sessions, org, smtp, transport
):
    """The payment holds its invoice row (PostgreSQL) or the write lock (SQLite) when the mark comes:
    the mark waits for the payment's commit, then sees the invoice paid."""
    delivery = await queued_reminder(session, org, ("INV-R1",))
    committed: list[asyncio.Task[None]] = []

    async def pay_and_commit_a_moment_later() -> None:
        other = sessions()
        request = PaymentRequest(
            number="INV-R1", amount=None, paid_on=utcnow().date(), actor="U_ALICE", source=PaymentSource.CLI
        )
        await record_payment(other, organisation_id=org.id, rules=ApprovalRules(), request=request)

        async def commit() -> None:
            await asyncio.sleep(0.3)
            await other.commit()
            await other.close()

        committed.append(asyncio.create_task(commit()))

    await make_worker(sessions, PaysBeforeData(transport, pay_and_commit_a_moment_later)).drain()
    await committed[0]

    assert smtp.received == []
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED and stored.data_started_at is None
    assert "INV-R1 was paid before the reminder went out" in (stored.last_error or "")


async def test_the_open_pixel_and_a_disputed_invoice_follow_the_same_rules_as_elsewhere(
    session, sessions, org, smtp, transport
):
    await queued_reminder(session, org)
    await mark_disputed(
        units_over(sessions), organisation_id=org.id, number="INV-R2", actor="U_ALICE", reason="wrong quantity"
    )

    await make_worker(sessions, transport, identity=replace(IDENTITY, open_pixel=True)).drain()

    [received] = smtp.received
    html = _html(_parsed(received.data))
    assert "INV-R1" in html and "INV-R2" not in html  # the planner's stop rule, applied at send time
    assert f"{IDENTITY.public_url}/" in html and 'width="1" height="1"' in html  # the open pixel


async def test_a_5xx_raises_an_alert_naming_the_reminder_and_leaves_the_invoices_alone(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    smtp.script.reply_rcpt["ap@acme.example"] = "550 5.1.1 <ap@acme.example>: Recipient address rejected"
    delivery = await queued_reminder(session, org)

    await make_worker(sessions, transport).drain()

    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED
    assert await notifier.drain_once() == 2
    status, alert = channel_messages(fake_slack)
    assert "Reminder to Acme Corp for INV-R1, INV-R2" in status.text
    assert "550 5.1.1" in str(alert.blocks)
    assert "reminder" in alert.text.lower()
    assert "Fix address & resend" not in str(alert.blocks)  # never resent as an invoice
    async with sessions() as check:
        with pytest.raises(IllegalTransition, match="This was a payment reminder, not the email of INV-R1"):
            await prepare_fix(check, organisation_id=org.id, delivery_id=delivery.id, now=utcnow())
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.SENT


async def test_a_dsn_bounce_of_a_reminder_finds_it_by_verp_alerts_and_leaves_the_invoice_sent(
    session, sessions, org, smtp, transport, notifier, fake_slack
):
    delivery = await queued_reminder(session, org)
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()

    await bounce(sessions, delivery, "ap@acme.example")

    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.BOUNCED
    await notifier.drain_once()
    alerts = [m for m in channel_messages(fake_slack) if m.text.startswith("❌ Bounced")]
    assert len(alerts) == 1 and "reminder to Acme Corp for INV-R1, INV-R2" in alerts[0].text
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.SENT
