"""The language chosen for a delivery drives the whole email: its text, its PDF and its UBL.

The delivery is made as the review modal makes it (`prepare_review` in the chosen language,
then `request_delivery`), sent by the real worker over the real SMTP transport to aiosmtpd,
and the message the server received is parsed.
"""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from lxml import etree
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.authorization import ApprovalRules
from services.db.models import Attachments, Delivery, Organisation, utcnow
from services.email.smtp import SmtpTransport
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from services.sending.review import ReviewRequest, prepare_review
from tests import factories
from tests.harness.requesting import send_context
from tests.harness.sending import WITHOUT_REPLY_TO, make_worker

pytestmark = pytest.mark.smtp_client(timeout=2.0, pool_size=1)


PUBLIC_URL = "http://localhost:3000"
UBL = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


async def queue_in_language(session: AsyncSession, org: Organisation, *, language: str) -> Delivery:
    """An English customer's invoice, reviewed and queued in `language` as the modal would."""
    acme = await factories.customer(session, org.id, language="en")
    await factories.invoice(session, org.id, acme, number="INV-0001", amount="1200.50")
    await session.commit()
    draft = await prepare_review(
        session,
        ReviewRequest(
            organisation_id=org.id, invoice_number="INV-0001", public_url=PUBLIC_URL, now=utcnow(), language=language
        ),
    )
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0001",
            to=draft.to,
            subject=draft.subject,
            message=draft.message,
            language=draft.language,
            attachments=Attachments.PDF_UBL,
            requested_by="U_ALICE",
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(rules=ApprovalRules(), now=utcnow(), domain="example.com", secret=b"test-secret"),
    )
    await session.commit()
    return outcome.delivery


async def send_and_receive(
    sessions: async_sessionmaker[AsyncSession], transport: SmtpTransport, smtp: ScriptedSmtpServer
) -> EmailMessage:
    worker = make_worker(sessions, transport, identity=WITHOUT_REPLY_TO, worker_id="language-test")
    assert await worker.drain() == 1
    [received] = smtp.received
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert isinstance(message, EmailMessage)
    return message


def read_parts(message: EmailMessage) -> tuple[str, str, str, list[str]]:
    """Text body, HTML body, the PDF's text (spaces made plain) and the UBL's notes."""
    text = factories.body_text(message, "plain")
    html = factories.body_text(message, "html")
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    pdf = PdfReader(io.BytesIO(files["INV-0001.pdf"]))
    pdf_text = " ".join(
        " ".join(page.extract_text().replace("\u202f", " ").replace("\xa0", " ").split()) for page in pdf.pages
    )
    notes = etree.fromstring(files["INV-0001.xml"]).xpath("//cbc:Note/text()", namespaces=UBL)
    return text, html, pdf_text, notes


async def test_a_delivery_in_german_for_an_english_customer_sends_german_text_pdf_and_ubl_notes(
    session, sessions, org, smtp, transport
):
    delivery = await queue_in_language(session, org, language="de")
    assert delivery.language == "de"

    text, html, pdf, notes = read_parts(await send_and_receive(sessions, transport, smtp))

    # A UK seller writing German: `de_GB` is no CLDR locale, so German as German readers write it.
    assert "Rechnung INV-0001" in text and "1.440,60 €" in text.replace("\xa0", " ")
    assert "1. November 2026" in text
    assert "Rechnung" in html
    for german in ("RECHNUNG", "Rechnungsnummer", "Fällig am", "1. November 2026", "1.440,60 €", "Seite 1 von 1"):
        assert german in pdf, german
    for english in ("INVOICE", "Due date", "Page 1 of 1", "November 1"):
        assert english not in pdf, english
    assert notes == ["Bitte überweisen Sie 1.440,60\xa0€ bis zum 1. November 2026."]


async def test_without_a_switch_the_customers_language_and_the_sellers_country_decide(
    session, sessions, org, smtp, transport
):
    await queue_in_language(session, org, language="en")

    text, _, pdf, notes = read_parts(await send_and_receive(sessions, transport, smtp))

    # English from a UK seller is en_GB everywhere: "1 November 2026", never "November 1, 2026".
    assert "€1,440.60" in text and "1 November 2026" in text
    assert "INVOICE" in pdf and "1 November 2026" in pdf and "€1,440.60" in pdf
    assert "November 1, 2026" not in text + pdf
    assert notes == ["Please pay €1,440.60 by 1 November 2026."]
