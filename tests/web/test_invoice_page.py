"""The invoice link page over real HTTP: what the customer sees, and what a stranger doesn't."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, timedelta

import httpx
from lxml import html as lxml_html
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog, Delivery, Invoice, Organisation, utcnow
from services.documents.validation import validate_ubl_xsd
from services.tracking.links import revoke_invoice_token
from tests.harness.web import BROWSER_AGENT, StartWeb, WebApp, make_sent_invoice


async def _get(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT, **headers}) as client:
        return await client.get(url)


def _text(page: httpx.Response) -> str:
    """What a reader sees: the body's words, spaced as the elements separate them."""
    body = lxml_html.fromstring(page.text).find("body")
    assert body is not None
    return " ".join(" ".join(body.itertext()).split())


async def test_page_shows_the_invoice_facts_a_customer_needs(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    page = await _get(f"{web.url}/i/{invoice.public_token}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = _text(page)
    for fact in (
        "Example Trading Ltd",
        "Invoice INV-2026-0042",
        "Acme Corp <Europe> & Co",
        "Rue de la Loi 16",
        "BE0123456789",
        "1 October 2026",  # the seller is in GB: en_GB
        "Due in 14 days",
        "Consulting, October 2026",
        "Printed manuals",
        "€1,140.00",  # 12 × 95.00
        "€1,657.50",  # subtotal
        "€1,999.95",  # total: 1,657.50 + 21 % of 1,620.00 (340.20) + 6 % of 37.50 (2.25)
        "BE71 0961 2345 6769",
        "GKCCBEBB",
        "Download PDF",
        "E-invoice (UBL)",
    ):
        assert fact in text, fact
    assert "<Europe>" not in page.text  # escaped, not markup
    tree = lxml_html.fromstring(page.text)
    assert tree.xpath("//a[text()='Download PDF']/@href") == [f"/i/{invoice.public_token}/pdf"]
    assert tree.xpath("//meta[@name='viewport']")


async def test_page_answers_with_privacy_and_security_headers(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    page = await _get(f"{web.url}/i/{invoice.public_token}")

    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert page.headers["cache-control"].startswith("private")
    # The inline stylesheet is allowed by its hash, so browsers apply it and nothing else inline.
    style = re.search(r"<style>(.*?)</style>", page.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
    assert "<script" not in page.text


async def test_page_speaks_the_customers_language(web: WebApp, session: AsyncSession, org: Organisation) -> None:
    invoice, _ = await make_sent_invoice(
        session, org, language="fr", due_date=utcnow().date() - timedelta(days=3), number="F-7"
    )
    text = _text(await _get(f"{web.url}/i/{invoice.public_token}"))

    assert "Facture F-7" in text
    assert "En retard de 3 jours" in text
    assert "Télécharger le PDF" in text
    assert "1 octobre 2026" in text


async def test_unknown_and_expired_links_get_the_same_404_and_a_revoked_one_410(
    start_web: StartWeb, session: AsyncSession, org: Organisation
) -> None:
    web = await start_web()
    short_lived = await start_web(INVOICEBOT_LINK_MAX_AGE_DAYS="30")
    revoked, _ = await make_sent_invoice(session, org, number="INV-R")
    old_token = revoked.public_token
    await revoke_invoice_token(session, organisation_id=org.id, number="INV-R", actor="U0ALICE")
    await session.commit()
    expired, _ = await make_sent_invoice(
        session, org, number="INV-E", issue_date=date(2026, 1, 5), accepted_at=utcnow() - timedelta(days=40)
    )

    unknown = await _get(f"{web.url}/i/{'x' * 43}")
    malformed = await _get(f"{web.url}/i/..%2f..")
    revoked_page = await _get(f"{web.url}/i/{old_token}")
    expired_page = await _get(f"{short_lived.url}/i/{expired.public_token}")

    assert {unknown.status_code, expired_page.status_code} == {404}
    assert malformed.status_code == 404
    assert unknown.text == expired_page.text
    assert "Invoice not available" in unknown.text
    assert revoked_page.status_code == 410
    assert "This invoice link was withdrawn by the sender." in _text(revoked_page)
    assert "Please ask the sender for a new link." in _text(revoked_page)
    assert (await _get(f"{web.url}/i/{revoked.public_token}")).status_code == 200  # the reissued link works
    assert (await _get(f"{web.url}/i/{expired.public_token}")).status_code == 200  # 365 days by default
    audit = (await session.execute(select(AuditLog).where(AuditLog.action == "invoice_link_revoked"))).scalar_one()
    assert audit.actor == "U0ALICE" and audit.detail == {"number": "INV-R", "reissued": True}


async def test_pdf_download_is_a_pdf_named_after_the_invoice(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    pdf = await _get(f"{web.url}/i/{invoice.public_token}/pdf")

    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert b"%%EOF" in pdf.content[-64:]
    assert pdf.headers["content-disposition"] == 'attachment; filename="INV-2026-0042.pdf"'


async def test_ubl_download_is_a_valid_ubl_invoice(web: WebApp, sent_invoice: tuple[Invoice, Delivery]) -> None:
    invoice, _ = sent_invoice
    ubl = await _get(f"{web.url}/i/{invoice.public_token}/ubl")

    assert ubl.status_code == 200
    assert ubl.headers["content-type"].startswith("application/xml")
    assert validate_ubl_xsd(ubl.content) == []
    assert b"<cbc:ID>INV-2026-0042</cbc:ID>" in ubl.content
    assert ubl.headers["content-disposition"] == 'attachment; filename="INV-2026-0042.xml"'


async def test_downloads_of_an_unknown_link_are_404(web: WebApp) -> None:
    for suffix in ("pdf", "ubl"):
        response = await _get(f"{web.url}/i/{'y' * 43}/{suffix}")
        assert response.status_code == 404


async def test_page_prints_both_addresses_in_their_countrys_order(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    page = await _get(f"{web.url}/i/{invoice.public_token}")

    tree = lxml_html.fromstring(page.text)
    seller, buyer = (
        [" ".join(p.text_content().split()) for p in party.xpath("./address/p")]
        for party in tree.xpath("//div[@class='party']")
    )
    assert seller == ["1 Example Street", "London", "United Kingdom"]
    assert buyer == ["Rue de la Loi 16", "1000 Brussels", "Belgium"]
