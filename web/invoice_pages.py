"""The customer-facing web pages: the invoice link page, its PDF and UBL downloads, the open pixel,
and the staff's short-lived PDF preview.

    GET /i/{token}       the invoice as a page (HEAD answers the same, but never counts as a view)
    GET /i/{token}/pdf   the PDF          } from the document cache, with an ETag: a matching
    GET /i/{token}/ubl   the UBL 2.1 XML  } If-None-Match answers 304 without rendering;
                         the UBL only when it passes the send path's checks (its verdict
                         by digest, reached now if none is stored), else 409 "being corrected"
    GET /p/{preview}/pdf a signed, 15-minute PDF link for *Preview PDF* in Slack (drafts too)
    GET /o/{token}.gif   a 1x1 transparent GIF, always; records an unreliable `opened`
                         event only when `INVOICEBOT_OPEN_PIXEL` is on

Every answer comes from a *read*: whether a hit counts as a view is decided and written
later by the view recorder (web/view_recorder.py), so a locked or slow database never
fails or slows a page. (The one write: a UBL download of a document no verdict covers yet
stores the verdict it reached, and still answers if the database refuses it.) Whoever has
the link is the customer, so every answer is private and never indexed or stored by a
shared cache, and the page sends no Referer onward (the token is in the URL). An unknown
or expired link gets one and the same 404 page; a link the sender withdrew gets 410 with a
sentence saying so; anything unexpected gets a plain 500 page with a reference id (the
traceback goes to the log only).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from services.db.models import Invoice, utcnow
from services.documents.cache import DocumentCache, document_digest
from services.documents.model import InvoiceDocument, load_invoice_document, with_notes
from services.documents.page import (
    ASK_FOR_A_NEW_LINK,
    PAGE_STYLE_HASH,
    describe_payment_state,
    render_invoice_page,
    render_link_not_found_page,
)
from services.documents.pdf import render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.documents.validation import UblVerdict
from services.errors import DomainError, NotFound
from services.sending.checks import verp_token_is_genuine
from services.sending.notes_choice import notes_shown
from services.sending.ubl_checks import ubl_digest, verdict_on
from services.tracking.links import (
    LINK_NOT_FOUND,
    LinkWithdrawn,
    PreviewExpired,
    resolve_invoice_token,
    resolve_preview_token,
)
from services.tracking.page_views import Hit
from web.view_recorder import PendingHit, SessionOpener, ViewRecorder

log = logging.getLogger("invoicebot.invoice_pages")

# The smallest transparent GIF (43 bytes): one pixel, colour 0 transparent.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_TOKEN_CHARS = 100
UBL_BEING_CORRECTED = "The e-invoice (UBL) of this invoice is being corrected and can't be downloaded yet."
UBL_MEANWHILE = "The PDF can be downloaded as usual; please try the e-invoice again later or contact the sender."
SERVER_ERROR = "Sorry, something went wrong on our side. Please try again later. (Reference: {reference})"

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
# The customer's browser may keep a download, but must ask (If-None-Match) before using it again.
DOWNLOAD_CACHE_CONTROL = "private, no-cache"

Clock = Callable[[], datetime]
Endpoint = Callable[[Request], Awaitable[Response]]


def _hit(request: Request) -> Hit:
    return Hit(
        method=request.method,
        user_agent=request.headers.get("user-agent"),
        client_address=request.client.host if request.client else None,
    )


def _file_name(number: str, extension: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", number).strip("._") or "invoice") + extension


def _etag_matches(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(candidate.strip().removeprefix("W/") in (etag, "*") for candidate in wanted.split(","))


def answered_plainly(endpoint: Endpoint) -> Endpoint:
    """The one place these routes turn an error into an answer: 404, 410, 409 or a plain 500."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except LinkWithdrawn as error:
            hint = None if isinstance(error, PreviewExpired) else ASK_FOR_A_NEW_LINK
            page = render_link_not_found_page(str(error), hint=hint)
            return HTMLResponse(page, status_code=410, headers=SECURITY_HEADERS)
        except NotFound:
            return HTMLResponse(render_link_not_found_page(LINK_NOT_FOUND), status_code=404, headers=SECURITY_HEADERS)
        except DomainError as error:
            # The invoice's data can't make this document (e.g. its totals disagree): say so, don't guess.
            log.warning("invoice page %s: cannot produce it: %s", endpoint.__name__, error)
            message = "This invoice can't be shown right now. Please contact the sender of the invoice."
            return PlainTextResponse(message, status_code=409, headers=SECURITY_HEADERS)
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("invoice page %s failed (reference %s)", endpoint.__name__, reference)
            return PlainTextResponse(
                SERVER_ERROR.format(reference=reference), status_code=500, headers=SECURITY_HEADERS
            )

    answer.__name__ = endpoint.__name__
    return answer


@dataclass(frozen=True)
class LinkPolicy:
    """How the links behave, fixed at start-up: their base URL, their age limit, the open pixel."""

    public_url: str
    max_age_days: int
    open_pixel: bool


class InvoicePages:
    """The handlers, given what they read (sessions, cache), sign with (the VERP secret) and write to."""

    def __init__(
        self,
        *,
        sessions: SessionOpener,
        policy: LinkPolicy,
        verp_secret: bytes,
        cache: DocumentCache,
        recorder: ViewRecorder,
        clock: Clock = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.public_url = policy.public_url.rstrip("/")
        self.max_age_days = policy.max_age_days
        self.open_pixel = policy.open_pixel
        self.verp_secret = verp_secret
        self.cache = cache
        self.recorder = recorder
        self._ubl_checks: dict[str, asyncio.Future[UblVerdict]] = {}  # digest → the check under way

    async def _document(self, token: str, *, now: datetime) -> tuple[Invoice, InvoiceDocument]:
        """The invoice behind a customer's `token` and its document as last sent (notes shown or not),
        in one read-only session."""
        async with self.sessions() as session:
            invoice = await resolve_invoice_token(session, token=token, now=now, max_age_days=self.max_age_days)
            document = await load_invoice_document(
                session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, public_url=self.public_url
            )
            show = await notes_shown(session, invoice_id=invoice.id)
        return invoice, with_notes(document, show=show)

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        now = self.clock()
        invoice, document = await self._document(token, now=now)
        if request.method == "GET":
            self.recorder.offer(PendingHit(hit=_hit(request), at=now, invoice_id=invoice.id))
        state = describe_payment_state(
            status=invoice.status, due_date=invoice.due_date, today=now.date(), language=document.language
        )
        base = f"/i/{token}"
        html = render_invoice_page(document, state=state, pdf_url=f"{base}/pdf", ubl_url=f"{base}/ubl")
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    async def _download(self, request: Request, document: InvoiceDocument, kind: str, *, private: bool) -> Response:
        """The document as a file, from the cache; 304 when the browser's copy (ETag) is current."""
        render, media_type, extension = {
            "pdf": (render_invoice_pdf, "application/pdf", ".pdf"),
            "ubl": (render_invoice_ubl, "application/xml", ".xml"),
        }[kind]
        digest = document_digest(kind, document)
        etag = f'"{digest}"'
        cache_control = "private, no-store" if private else DOWNLOAD_CACHE_CONTROL
        headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": etag}
        if _etag_matches(request, etag):
            return Response(status_code=304, headers=headers)
        content = await self.cache.get(digest, lambda: render(document))
        headers["Content-Disposition"] = f'attachment; filename="{_file_name(document.number, extension)}"'
        return Response(content, media_type=media_type, headers=headers)

    async def pdf(self, request: Request) -> Response:
        _, document = await self._document(request.path_params["token"], now=self.clock())
        return await self._download(request, document, "pdf", private=False)

    async def ubl(self, request: Request) -> Response:
        """The UBL only when it passes the checks the send path applies; else a page saying it is being fixed."""
        now = self.clock()
        _, document = await self._document(request.path_params["token"], now=now)
        verdict = await self._ubl_verdict(document, now=now)
        if not verdict.ok:
            log.info("invoice %s: its e-invoice is not served: %s", document.number, "; ".join(verdict.failures))
            page = render_link_not_found_page(UBL_BEING_CORRECTED, hint=UBL_MEANWHILE)
            return HTMLResponse(page, status_code=409, headers=SECURITY_HEADERS)
        return await self._download(request, document, "ubl", private=False)

    async def _ubl_verdict(self, document: InvoiceDocument, *, now: datetime) -> UblVerdict:
        """The stored verdict, or one check for all the concurrent downloads of a document not checked yet."""
        digest = ubl_digest(document)
        pending = self._ubl_checks.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(verdict_on(self.sessions, document, now=now))
            self._ubl_checks[digest] = pending
            pending.add_done_callback(lambda _: self._ubl_checks.pop(digest, None))
        return await asyncio.shield(pending)

    async def preview_pdf(self, request: Request) -> Response:
        """Staff's *Preview PDF*: any status (drafts too), for as long as the signed link lasts."""
        async with self.sessions() as session:
            invoice = await resolve_preview_token(
                session, token=request.path_params["token"], now=self.clock(), secret=self.verp_secret
            )
            document = await load_invoice_document(
                session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, public_url=self.public_url
            )
        return await self._download(request, document, "pdf", private=True)

    async def pixel(self, request: Request) -> Response:
        """Always the GIF, whatever the token: a mail client learns nothing, and shows no broken image."""
        token = request.path_params["verp_token"]
        genuine = len(token) <= MAX_TOKEN_CHARS and verp_token_is_genuine(token, self.verp_secret)
        if self.open_pixel and genuine:
            self.recorder.offer(PendingHit(hit=_hit(request), at=self.clock(), verp_token=token))
        return Response(TRANSPARENT_GIF, media_type="image/gif", headers=SECURITY_HEADERS)


def invoice_page_routes(pages: InvoicePages) -> list[BaseRoute]:
    return [
        Route("/i/{token}", answered_plainly(pages.page), methods=["GET", "HEAD"]),
        Route("/i/{token}/pdf", answered_plainly(pages.pdf), methods=["GET", "HEAD"]),
        Route("/i/{token}/ubl", answered_plainly(pages.ubl), methods=["GET", "HEAD"]),
        Route("/p/{token}/pdf", answered_plainly(pages.preview_pdf), methods=["GET", "HEAD"]),
        Route("/o/{verp_token}.gif", answered_plainly(pages.pixel), methods=["GET", "HEAD"]),
    ]
