"""The customer's link page after a partial payment (issue 14 item 2), over HTTP from the real web
app: the totals add what was paid and the balance due, and the page asks for the balance only."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import httpx
from lxml import etree
from lxml import html as lxml_html
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import Invoice, Organisation, PaymentSource
from services.documents.model import load_invoice_document
from services.documents.payment_qr import epc_payload
from services.invoicing.payments import PaymentRequest, record_payment
from tests.harness.web import BROWSER_AGENT, WebApp, make_sent_invoice

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"


async def _page_text(web: WebApp, invoice: Invoice) -> str:
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        page = await client.get(f"{web.url}/i/{invoice.public_token}")
    assert page.status_code == 200
    body = lxml_html.fromstring(page.text).find("body")
    assert body is not None
    return " ".join(" ".join(body.itertext()).split())


async def _pay(session: AsyncSession, org: Organisation, invoice: Invoice, amount: str) -> None:
    request = PaymentRequest(
        number=invoice.number, amount=Decimal(amount), paid_on=date(2026, 11, 2), actor="U0ALICE",
        source=PaymentSource.CLI,
    )  # fmt: skip
    await record_payment(session, organisation_id=org.id, rules=ApprovalRules(), request=request)
    await session.commit()


async def test_a_partly_paid_invoice_s_page_shows_paid_and_the_balance_due_and_asks_for_the_balance(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org)  # €1,999.95
    await _pay(session, org, invoice, "500.00")

    text = await _page_text(web, invoice)

    assert "Total due €1,999.95 Paid €500.00 Balance due €1,499.95" in text
    assert text.count("Balance due €1,499.95") == 2  # the headline figure is the balance too
    assert "Please pay €1,499.95 by" in text
    assert "Please pay €1,999.95" not in text


async def test_an_unpaid_invoice_s_page_shows_its_total_alone(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org)

    text = await _page_text(web, invoice)

    assert "Total due €1,999.95" in text and "Please pay €1,999.95 by" in text
    assert "Balance due" not in text and "Paid €" not in text


async def test_the_pdf_and_its_transfer_code_ask_for_the_balance_after_a_partial_payment(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org)
    await _pay(session, org, invoice, "500.00")
    document = await load_invoice_document(
        session, organisation_id=org.id, invoice_id=invoice.id, public_url="http://localhost:3000"
    )
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        pdf = await client.get(f"{web.url}/i/{invoice.public_token}/pdf")
    pdf_text = " ".join(
        " ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf.content)).pages
    )

    payload = epc_payload(document)

    assert payload is not None and "EUR1499.95" in payload.split("\n")
    assert "Paid €500.00" in pdf_text and "Balance due €1,499.95" in pdf_text
    assert "Please pay €1,499.95 by" in pdf_text


async def test_the_e_invoice_after_a_partial_payment_states_the_prepaid_amount_and_passes_the_checks(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org)
    await _pay(session, org, invoice, "500.00")

    async with httpx.AsyncClient(timeout=60, headers={"User-Agent": BROWSER_AGENT}) as client:
        ubl = await client.get(f"{web.url}/i/{invoice.public_token}/ubl")

    assert ubl.status_code == 200, ubl.text  # the send path's checks (UBL 2.1 XSD, EN 16931 schematron) pass
    tree = etree.fromstring(ubl.content)
    monetary = tree.find(f"{{{CAC}}}LegalMonetaryTotal")
    assert monetary is not None
    total = {etree.QName(element).localname: element.text for element in monetary}
    assert (total["TaxInclusiveAmount"], total["PrepaidAmount"], total["PayableAmount"]) == (
        "1999.95", "500.00", "1499.95"
    )  # fmt: skip
