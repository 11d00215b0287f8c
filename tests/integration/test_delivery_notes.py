"""The emailed PDF and UBL follow their delivery's "Show notes on the invoice page" (issue 16 item 4).

The delivery is requested as the review modal requests it, sent by the real worker over the
real SMTP transport to aiosmtpd, and the attachments of the message the server received are read.
"""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.authorization import ApprovalRules
from services.db.models import Attachments, Organisation, utcnow
from services.email.smtp import SmtpTransport
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.requesting import send_context
from tests.harness.sending import WITHOUT_REPLY_TO, make_worker

pytestmark = pytest.mark.smtp_client(timeout=2.0, pool_size=1)

VISIBLE_NOTE = "Thank you for your business"


async def _send(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    transport: SmtpTransport,
    smtp: ScriptedSmtpServer,
    *,
    show_notes: bool,
) -> tuple[str, str]:
    """Queue INV-0001 (with a customer-visible invoice note) as asked; the received PDF's text and UBL."""
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, number="INV-0001", amount="1200.50")
    invoice.notes = VISIBLE_NOTE
    await session.commit()
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0001",
            to=("ap@acme.example",),
            subject="Invoice INV-0001",
            message="Please find the invoice attached.",
            attachments=Attachments.PDF_UBL,
            show_notes=show_notes,
            requested_by="U_ALICE",
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=b"test-secret"),
    )
    await session.commit()
    assert outcome.delivery.show_notes is show_notes
    worker = make_worker(sessions, transport, identity=WITHOUT_REPLY_TO, worker_id="notes-test")
    assert await worker.drain() == 1
    [received] = smtp.received
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert isinstance(message, EmailMessage)
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    pdf = PdfReader(io.BytesIO(files["INV-0001.pdf"]))
    pdf_text = " ".join(" ".join((page.extract_text() or "").split()) for page in pdf.pages)
    return pdf_text, bytes(files["INV-0001.xml"]).decode()


async def test_a_send_with_notes_shown_carries_the_visible_note_in_its_pdf_and_ubl(
    session, sessions, org, smtp, transport
):
    pdf, ubl = await _send(session, sessions, org, transport, smtp, show_notes=True)

    assert VISIBLE_NOTE in pdf
    assert VISIBLE_NOTE in ubl


async def test_a_send_with_the_box_unticked_carries_no_note_in_its_pdf_or_ubl(session, sessions, org, smtp, transport):
    pdf, ubl = await _send(session, sessions, org, transport, smtp, show_notes=False)

    assert VISIBLE_NOTE not in pdf
    assert VISIBLE_NOTE not in ubl
    assert "INV-0001" in pdf and "INV-0001" in ubl  # the documents themselves are whole
