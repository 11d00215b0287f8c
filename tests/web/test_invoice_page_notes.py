"""Notes on the link page and its PDF (issue 16 item 4), fetched over HTTP from the real web app.

Internal notes never reach the customer; visible ones appear only when the sender left
"Show notes on the invoice page" ticked on the send the customer was offered last.
"""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
from lxml import html as lxml_html
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryStatus, Invoice, Organisation
from services.invoicing.entry import LineData
from tests.harness.web import BROWSER_AGENT, WebApp, make_sent_invoice

VISIBLE = ("Thank you for your business", "Workshop on 3 November")
INTERNAL = ("Chased twice by phone", "Cost price 40.00")


async def _noted_invoice(session: AsyncSession, org: Organisation, *, show_notes: bool) -> tuple[Invoice, Delivery]:
    """A sent invoice with a visible and an internal note on the invoice and on its lines."""
    invoice, delivery = await make_sent_invoice(
        session,
        org,
        lines=[
            LineData("Consulting", Decimal(2), Decimal("100.00"), Decimal(21), note=VISIBLE[1]),
            LineData("Books", Decimal(1), Decimal("50.00"), Decimal(6), note=INTERNAL[1], note_visible=False),
        ],
    )
    delivery.show_notes = show_notes
    await session.commit()
    return invoice, delivery


async def _fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    return answer


async def _page_text(web: WebApp, invoice: Invoice) -> str:
    page = await _fetch(f"{web.url}/i/{invoice.public_token}")
    body = lxml_html.fromstring(page.text).find("body")
    assert body is not None
    return " ".join(" ".join(body.itertext()).split())


async def _pdf_text(web: WebApp, invoice: Invoice) -> str:
    pdf = PdfReader(io.BytesIO((await _fetch(f"{web.url}/i/{invoice.public_token}/pdf")).content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pdf.pages)


async def _with_invoice_note(session: AsyncSession, invoice: Invoice, text: str, *, visible: bool) -> None:
    invoice.notes, invoice.notes_visible = text, visible
    await session.commit()


async def test_a_ticked_box_shows_visible_notes_on_the_page_and_pdf_but_never_internal_ones(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await _noted_invoice(session, org, show_notes=True)
    await _with_invoice_note(session, invoice, VISIBLE[0], visible=True)

    page, pdf = await _page_text(web, invoice), await _pdf_text(web, invoice)

    for note in VISIBLE:
        assert note in page, note
        assert note in pdf, note
    for note in INTERNAL[1:]:
        assert note not in page and note not in pdf, note
    assert "Notes" in page
    assert "Consulting" in page and "Books" in page  # the line stays, only its note is internal


async def test_an_internal_invoice_note_stays_internal_even_when_the_box_was_ticked(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await _noted_invoice(session, org, show_notes=True)
    await _with_invoice_note(session, invoice, INTERNAL[0], visible=False)

    page, pdf = await _page_text(web, invoice), await _pdf_text(web, invoice)

    assert INTERNAL[0] not in page and INTERNAL[0] not in pdf
    assert "Notes" not in page  # no empty notes section either
    assert VISIBLE[1] in page and VISIBLE[1] in pdf


async def test_an_unticked_box_hides_every_note_from_the_page_and_pdf(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await _noted_invoice(session, org, show_notes=False)
    await _with_invoice_note(session, invoice, VISIBLE[0], visible=True)

    page, pdf = await _page_text(web, invoice), await _pdf_text(web, invoice)

    for note in VISIBLE + INTERNAL:
        assert note not in page and note not in pdf, note
    assert "Consulting" in page and "Consulting" in pdf


async def test_the_page_follows_the_latest_send_offered_not_a_rejected_one(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, sent = await _noted_invoice(session, org, show_notes=True)
    await _with_invoice_note(session, invoice, VISIBLE[0], visible=True)
    refused = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=DeliveryStatus.REJECTED,
        to=sent.to,
        message_id="<refused@example.com>",
        verp_token="refusedtoken",
        requested_by="U0BOB",
        show_notes=False,
    )
    session.add(refused)
    await session.commit()

    assert VISIBLE[0] in await _page_text(web, invoice)  # the rejected request never reached the customer

    refused.status = DeliveryStatus.ACCEPTED  # now a send without notes did go out
    await session.commit()
    assert VISIBLE[0] not in await _page_text(web, invoice)
