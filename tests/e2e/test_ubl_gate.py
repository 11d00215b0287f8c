"""No UBL leaves unchecked: the real validation loop, the real worker, a real SMTP server, the fake Slack.

An e-invoice is checked (UBL 2.1 XSD, EN 16931 schematron) when its document is fixed, by
the validation loop; the worker sends on a passed verdict, holds a failed one with the rule
in words (the delivery `failed`, an alert in Slack), and checks inline any document that
has no verdict for its current content.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ubl_validator import UblValidator
from bot.worker import Worker, WorkerParts, WorkerTuning
from services.authorization import ApprovalRules
from services.db.models import (
    Attachments,
    Delivery,
    DeliveryStatus,
    DocumentValidation,
    InvoiceStatus,
    Organisation,
    utcnow,
)
from services.email.smtp import SmtpTransport
from services.invoicing.entry import InvoiceData, LineData, create_invoice
from services.sending.queue import RetryPolicy
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.reading import block_texts, channel_messages
from tests.harness.requesting import send_context
from tests.harness.sending import IDENTITY, SECRET, reload

pytestmark = pytest.mark.smtp_client(timeout=5.0, pool_size=1)


BR_27 = "held: the e-invoice breaks rule BR-27: The Item net price (BT-146) shall NOT be negative."
CONSULTING = LineData("Consulting", Decimal(1), Decimal("100.00"), Decimal(20))
# A discount typed as a line with a negative price: the PDF adds up, EN 16931 refuses it (BR-27).
DISCOUNT = LineData("Loyalty discount", Decimal(1), Decimal("-10.00"), Decimal(20))


@pytest.fixture
def worker(sessions: async_sessionmaker[AsyncSession], transport: SmtpTransport) -> Worker:
    return Worker(
        WorkerParts(sessions=sessions, transport=transport, identity=IDENTITY, render_pool=None),
        WorkerTuning(retry=RetryPolicy(max_attempts=3, base_seconds=60), worker_id="test-worker"),
    )


@pytest.fixture
def validator(sessions: async_sessionmaker[AsyncSession]) -> UblValidator:
    return UblValidator(sessions=sessions, public_url=IDENTITY.public_url)


async def queue_invoice(
    session: AsyncSession, org: Organisation, *, lines: list[LineData], number: str = "INV-0001"
) -> Delivery:
    """A validated invoice with `lines`, queued with PDF and UBL through the real review service."""
    owner = await factories.customer(session, org.id, ref=f"C-{number}")
    await create_invoice(
        session,
        organisation_id=org.id,
        customer=owner,
        data=InvoiceData(
            number=number,
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 11, 1),
            currency="EUR",
            lines=lines,
            status=InvoiceStatus.VALIDATED,
        ),
    )
    await session.commit()
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number=number,
            to=("ap@acme.example",),
            subject=f"Invoice {number}",
            message="Dear customer,\n\nplease find the invoice attached.\n",
            attachments=Attachments.PDF_UBL,
            requested_by="U_ALICE",
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=SECRET),
    )
    await session.commit()
    return outcome.delivery


async def verdicts(sessions: async_sessionmaker[AsyncSession]) -> list[DocumentValidation]:
    async with sessions() as check:
        return list((await check.execute(select(DocumentValidation))).scalars())


async def test_an_invoice_whose_ubl_breaks_a_rule_is_held_never_sent_and_the_rule_reaches_slack(
    session, sessions, org, smtp, worker, validator, notifier, fake_slack
):
    delivery = await queue_invoice(session, org, lines=[CONSULTING, DISCOUNT])

    checked = await validator.run_once()
    assert (checked.checked, checked.failed) == (1, 1)
    [verdict] = await verdicts(sessions)
    assert verdict.ok is False
    assert verdict.failures == ["BR-27: The Item net price (BT-146) shall NOT be negative."]

    await worker.drain()
    await notifier.drain_once()

    assert smtp.received == []
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED
    assert stored.last_error == BR_27
    assert worker.ubl_gate.inline_checks == 0  # the stored verdict decided
    posted = "\n".join(block_texts(m.blocks) + m.text for m in channel_messages(fake_slack))
    assert "BR-27" in posted and "shall NOT be negative" in posted
    assert "not sent: its e-invoice (UBL) did not pass its checks" in posted
    assert "server refused" not in posted and "Server said" not in posted  # no server was involved
    assert await worker.drain() == 0  # held: never retried by itself


async def test_a_valid_invoice_goes_out_on_its_stored_verdict_without_an_inline_check(
    session, sessions, org, smtp, worker, validator
):
    delivery = await queue_invoice(session, org, lines=[CONSULTING])

    assert (await validator.run_once()).checked == 1
    assert (await validator.run_once()).checked == 0  # a verdict is reached once per content
    await worker.drain()

    [received] = smtp.received
    assert received.recipients == ["ap@acme.example"]
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
    assert worker.ubl_gate.inline_checks == 0
    assert [v.ok for v in await verdicts(sessions)] == [True]


async def test_a_document_changed_after_its_check_is_checked_again_before_it_goes(
    session, sessions, org, smtp, worker, validator
):
    delivery = await queue_invoice(session, org, lines=[CONSULTING])
    assert (await validator.run_once()).checked == 1
    # the customer is renamed after the check: the UBL it renders now is another document
    await factories.customer(session, org.id, ref="C-INV-0001", name="Acme Corporation NV")
    await session.commit()

    await worker.drain()

    assert worker.ubl_gate.inline_checks == 1
    [received] = smtp.received
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    [ubl] = [part for part in message.iter_attachments() if part.get_filename() == "INV-0001.xml"]
    assert b"Acme Corporation NV" in ubl.get_content()  # the document that went is the one checked
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED


async def test_a_verdict_reached_inline_is_stored_so_a_retry_of_the_same_document_is_not_checked_again(
    session, sessions, org, smtp, worker
):
    delivery = await queue_invoice(session, org, lines=[CONSULTING])
    smtp.script.reply_data_once = "451 4.3.0 Temporary local problem"

    await worker.drain()  # checked inline (no verdict yet), then deferred by the server

    assert smtp.received == []
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.DEFERRED
    assert worker.ubl_gate.inline_checks == 1
    [verdict] = await verdicts(sessions)
    assert (verdict.ok, verdict.failures) == (True, [])
    async with sessions() as due_now:  # the retry's time has come
        await due_now.execute(
            update(Delivery).where(Delivery.id == delivery.id).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await due_now.commit()

    await worker.drain()

    assert len(smtp.received) == 1
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
    assert worker.ubl_gate.inline_checks == 1  # the retry found the stored verdict


async def test_an_invoice_nobody_checked_yet_is_checked_inline_and_held_when_it_breaks_a_rule(
    session, sessions, org, smtp, worker
):
    delivery = await queue_invoice(session, org, lines=[CONSULTING, DISCOUNT])

    await worker.drain()

    assert smtp.received == []
    assert worker.ubl_gate.inline_checks == 1
    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED
    assert stored.last_error == BR_27


async def test_a_pdf_only_delivery_needs_no_ubl_check(session, sessions, org, smtp, worker):
    owner = await factories.customer(session, org.id, ref="C-PDF")
    await factories.invoice(session, org.id, owner, number="INV-PDF")
    await session.commit()
    delivery = await factories.queued_delivery(
        session, org.id, verp_secret=SECRET, number="INV-0002", attachments=Attachments.PDF
    )

    await worker.drain()

    assert len(smtp.received) == 1
    assert worker.ubl_gate.inline_checks == 0
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.ACCEPTED
