"""PDF and UBL downloads: rendered once per content, revalidated by ETag, and the signed preview link."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DocumentValidation, Invoice, InvoiceStatus, Organisation, utcnow
from services.documents.model import load_invoice_document
from services.documents.validation import UblVerdict
from services.invoicing.entry import LineData
from services.sending.ubl_checks import store_verdicts, ubl_digest
from services.tracking.links import preview_link
from tests.harness.web import BROWSER_AGENT, SECRET, WebApp, make_sent_invoice


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30, headers={"User-Agent": BROWSER_AGENT})


async def test_forty_concurrent_downloads_render_the_pdf_once_and_share_one_etag(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}/pdf"
    async with _client() as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(40)))

    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert len({answer.headers["etag"] for answer in answers}) == 1
    assert web.runtime.document_cache.renders == 1


async def test_a_matching_if_none_match_answers_304_and_head_does_not_render_again(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    async with _client() as client:
        for kind in ("pdf", "ubl"):
            url = f"{web.url}/i/{invoice.public_token}/{kind}"
            head = await client.head(url)
            full = await client.get(url)
            again = await client.get(url, headers={"If-None-Match": full.headers["etag"]})
            stale = await client.get(url, headers={"If-None-Match": '"something-else"'})

            assert head.status_code == 200 and head.content == b""
            assert head.headers["etag"] == full.headers["etag"]
            assert int(head.headers["content-length"]) == len(full.content)
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == full.headers["etag"]
            assert stale.status_code == 200 and stale.content == full.content
            assert full.headers["cache-control"] == "private, no-cache"  # kept by the browser, never shared
    assert web.runtime.document_cache.renders == 2  # one PDF, one UBL


async def test_a_change_to_the_invoice_changes_the_etag_and_the_file(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}/ubl"
    async with _client() as client:
        before = await client.get(url)
        await session.execute(update(Invoice).where(Invoice.id == invoice.id).values(purchase_order="PO-777"))
        await session.commit()
        after = await client.get(url, headers={"If-None-Match": before.headers["etag"]})

    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert b"PO-777" in after.content and b"PO-777" not in before.content


async def test_the_preview_link_shows_a_draft_until_it_expires(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(session, org, number="DRAFT-1")
    invoice.status = InvoiceStatus.DRAFT
    await session.commit()
    secret = SECRET.encode()
    fresh = preview_link(invoice_id=invoice.id, now=utcnow(), minutes=15, secret=secret)
    expired = preview_link(invoice_id=invoice.id, now=utcnow() - timedelta(minutes=16), minutes=15, secret=secret)
    forged = preview_link(invoice_id=invoice.id, now=utcnow(), minutes=15, secret=b"another installation's key")
    other_invoice = fresh.path.replace(f"/p/{invoice.id}.", f"/p/{invoice.id + 1}.")

    async with _client() as client:
        pdf = await client.get(web.url + fresh.path)
        public = await client.get(f"{web.url}/i/{invoice.public_token}/pdf")
        late = await client.get(web.url + expired.path)
        wrong = [await client.get(web.url + path) for path in (forged.path, other_invoice, "/p/1.2.3/pdf")]

    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == 'attachment; filename="DRAFT-1.pdf"'
    assert pdf.headers["cache-control"] == "private, no-store"
    assert public.status_code == 404  # a draft has no public link
    assert late.status_code == 410 and "This preview link has expired" in late.text
    assert "ask the sender" not in late.text  # staff are told to use Preview PDF again
    assert {answer.status_code for answer in wrong} == {404}


async def _verdicts(session: AsyncSession) -> list[DocumentValidation]:
    session.expire_all()
    return list((await session.execute(select(DocumentValidation))).scalars())


async def test_a_ubl_that_breaks_a_rule_is_not_served_but_the_pdf_still_downloads(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    # A discount typed as a negative price: the PDF adds up, EN 16931 refuses it (BR-27).
    invoice, _ = await make_sent_invoice(
        session,
        org,
        number="INV-NEG",
        lines=[
            LineData("Consulting", Decimal(1), Decimal("100.00"), Decimal(21)),
            LineData("Loyalty discount", Decimal(1), Decimal("-10.00"), Decimal(21)),
        ],
    )
    async with _client() as client:
        ubl = await client.get(f"{web.url}/i/{invoice.public_token}/ubl")
        again = await client.get(f"{web.url}/i/{invoice.public_token}/ubl")
        pdf = await client.get(f"{web.url}/i/{invoice.public_token}/pdf")

    assert ubl.status_code == 409
    assert "e-invoice (UBL) of this invoice is being corrected" in ubl.text
    assert "The PDF can be downloaded as usual" in ubl.text
    assert "BR-27" not in ubl.text and "BT-146" not in ubl.text  # no rule internals to the public
    assert "content-disposition" not in ubl.headers and "<Invoice" not in ubl.text
    assert again.status_code == 409  # decided by the stored verdict now
    [verdict] = await _verdicts(session)
    assert verdict.ok is False and verdict.failures[0].startswith("BR-27")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_a_valid_ubl_is_checked_once_for_concurrent_downloads_and_its_verdict_kept(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}/ubl"
    async with _client() as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(5)))

    assert {answer.status_code for answer in answers} == {200}
    assert all(b"<Invoice" in answer.content for answer in answers)
    [verdict] = await _verdicts(session)
    assert verdict.ok is True
    assert verdict.digest == answers[0].headers["etag"].strip('"')  # the digest the worker looks up


async def test_the_stored_verdict_decides_the_download(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    document = await load_invoice_document(
        session,
        organisation_id=invoice.organisation_id,
        invoice_id=invoice.id,
        public_url=web.runtime.organisation_settings.identity.public_url.rstrip("/"),
    )
    failed = UblVerdict(ok=False, failures=("BR-CO-15: Invoice total amount with VAT (BT-112) = …",))
    await session.run_sync(
        lambda s: store_verdicts(s.connection(), verdicts={ubl_digest(document): failed}, now=utcnow())
    )
    await session.commit()

    async with _client() as client:
        answer = await client.get(f"{web.url}/i/{invoice.public_token}/ubl")

    assert answer.status_code == 409 and "being corrected" in answer.text
    assert "BR-CO-15" not in answer.text
