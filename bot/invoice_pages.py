"""The customer-facing web pages: the invoice link page, its PDF and UBL downloads, the open pixel.

    GET /i/{token}       the invoice as a page (HEAD answers the same, but never counts as a view)
    GET /i/{token}/pdf   the PDF, rendered in a thread so the event loop keeps serving
    GET /i/{token}/ubl   the UBL 2.1 e-invoice
    GET /o/{token}.gif   a 1x1 transparent GIF, always; records an unreliable `opened`
                         event only when `INVOICEBOT_OPEN_PIXEL` is on

Whoever has the link is the customer, so every answer is private and never indexed or
cached by a shared cache, and the page sends no Referer onward (the token is in the URL).
An unknown, revoked or expired link gets one and the same 404 page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.container import Container
from services.db.models import utcnow
from services.documents.model import InvoiceDocument, load_invoice_document
from services.documents.page import (
    PAGE_STYLE_HASH,
    PaymentState,
    describe_payment_state,
    render_invoice_page,
    render_link_not_found_page,
)
from services.documents.pdf import render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.errors import DomainError, NotFound
from services.invoice_links import LINK_NOT_FOUND, resolve_invoice_token
from services.invoice_views import Hit, ViewRules, record_invoice_view, record_pixel_open

log = logging.getLogger("invoicebot.invoice_pages")

# The smallest transparent GIF (43 bytes): one pixel, colour 0 transparent.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_TOKEN_CHARS = 100

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; style-src '{PAGE_STYLE_HASH}'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

Clock = Callable[[], datetime]


def _hit(request: Request) -> Hit:
    return Hit(
        method=request.method,
        user_agent=request.headers.get("user-agent"),
        client_address=request.client.host if request.client else None,
    )


def _file_name(number: str, extension: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", number).strip("._") or "invoice") + extension


def _not_found() -> Response:
    return HTMLResponse(render_link_not_found_page(LINK_NOT_FOUND), status_code=404, headers=SECURITY_HEADERS)


def _unavailable(document_name: str, error: DomainError) -> Response:
    """The invoice's data can't make this document (e.g. its totals disagree): say so, don't guess."""
    log.warning("invoice page: cannot produce the %s: %s", document_name, error)
    message = f"This {document_name} can't be shown right now. Please contact the sender of the invoice."
    return PlainTextResponse(message, status_code=409, headers=SECURITY_HEADERS)


class InvoicePages:
    """The handlers, holding the container (sessions, settings, secret) and a clock."""

    def __init__(self, container: Container, *, clock: Clock = utcnow) -> None:
        self.container = container
        self.clock = clock
        settings = container.settings
        self.public_url = settings.public_url.rstrip("/")
        self.max_age_days = settings.link_max_age_days
        self.rules = ViewRules(prefetch_seconds=settings.link_prefetch_seconds)
        self.open_pixel = settings.open_pixel

    async def _document(self, token: str, *, hit: Hit | None) -> tuple[InvoiceDocument, PaymentState]:
        """The invoice behind `token`; with `hit`, also apply the view rule (and commit a counted view)."""
        now = self.clock()
        async with self.container.session() as session:
            invoice = await resolve_invoice_token(session, token=token, now=now, max_age_days=self.max_age_days)
            document = await load_invoice_document(
                session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, public_url=self.public_url
            )
            status, due_date = invoice.status, invoice.due_date
            if hit is not None:
                outcome = await record_invoice_view(
                    session, invoice=invoice, hit=hit, now=now, rules=self.rules, secret=self.container.verp_secret()
                )
                log.debug("invoice page hit: %s", outcome.verdict)
                await session.commit()
        state = describe_payment_state(status=status, due_date=due_date, today=now.date(), language=document.language)
        return document, state

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            document, state = await self._document(token, hit=_hit(request))
        except NotFound:
            return _not_found()
        except DomainError as error:
            return _unavailable("invoice", error)
        base = f"/i/{token}"
        html = render_invoice_page(document, state=state, pdf_url=f"{base}/pdf", ubl_url=f"{base}/ubl")
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    async def pdf(self, request: Request) -> Response:
        try:
            document, _ = await self._document(request.path_params["token"], hit=None)
            content = await asyncio.to_thread(render_invoice_pdf, document)
        except NotFound:
            return _not_found()
        except DomainError as error:
            return _unavailable("PDF", error)
        disposition = f'attachment; filename="{_file_name(document.number, ".pdf")}"'
        return Response(
            content, media_type="application/pdf", headers={**SECURITY_HEADERS, "Content-Disposition": disposition}
        )

    async def ubl(self, request: Request) -> Response:
        try:
            document, _ = await self._document(request.path_params["token"], hit=None)
            content = await asyncio.to_thread(render_invoice_ubl, document)
        except NotFound:
            return _not_found()
        except DomainError as error:
            return _unavailable("e-invoice", error)
        disposition = f'attachment; filename="{_file_name(document.number, ".xml")}"'
        return Response(
            content, media_type="application/xml", headers={**SECURITY_HEADERS, "Content-Disposition": disposition}
        )

    async def pixel(self, request: Request) -> Response:
        """Always the GIF, whatever the token: a mail client learns nothing, and shows no broken image."""
        token = request.path_params["verp_token"]
        if self.open_pixel and len(token) <= MAX_TOKEN_CHARS:
            async with self.container.session() as session:
                outcome = await record_pixel_open(
                    session,
                    verp_token=token,
                    hit=_hit(request),
                    now=self.clock(),
                    rules=self.rules,
                    secret=self.container.verp_secret(),
                )
                log.debug("open pixel hit: %s", outcome.verdict)
                await session.commit()
        return Response(TRANSPARENT_GIF, media_type="image/gif", headers=SECURITY_HEADERS)


def invoice_page_routes(container: Container, *, clock: Clock = utcnow) -> list[BaseRoute]:
    pages = InvoicePages(container, clock=clock)
    return [
        Route("/i/{token}", pages.page, methods=["GET", "HEAD"]),
        Route("/i/{token}/pdf", pages.pdf, methods=["GET", "HEAD"]),
        Route("/i/{token}/ubl", pages.ubl, methods=["GET", "HEAD"]),
        Route("/o/{verp_token}.gif", pages.pixel, methods=["GET", "HEAD"]),
    ]
