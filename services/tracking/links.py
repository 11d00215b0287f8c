"""The customer's invoice link (`/i/<token>`): finding the invoice behind a token, revoking it,
and the short-lived signed link staff use to preview a PDF (`/p/<preview token>/pdf`).

A token is the invoice's `public_token`: 256 random bits, URL-safe. Whoever holds it may
see that one invoice, so every reason a token does not open an invoice — unknown,
expired, not issued yet — raises the same `NotFound` with the same sentence: a caller
(and so a stranger guessing tokens) can never tell which it was. The one exception is a
link someone *withdrew* (`revoke_invoice_link`): its holder was given it, so they are told
it was withdrawn (`LinkWithdrawn`, HTTP 410) and whom to ask. Revoked tokens are kept only
as their SHA-256.

Expiry is counted from the later of the issue date and the date the invoice was sent, so
an invoice emailed months after it was issued still gets its full `max_age_days`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, authorize
from services.db.models import Invoice, InvoiceStatus, RevokedInvoiceLink, new_public_token, utcnow
from services.errors import DomainError, NotFound
from services.invoicing.invoices import InvoiceAct, get_invoice
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed

LINK_NOT_FOUND = "This invoice link is not valid. It may have expired or been replaced by a newer one."
LINK_WITHDRAWN = "This invoice link was withdrawn by the sender."
PREVIEW_EXPIRED = "This preview link has expired. Ask for a new one with Preview PDF in Slack."


class LinkWithdrawn(DomainError):
    """The link was valid once and has been withdrawn (revoked, or the preview expired): HTTP 410."""


class PreviewExpired(LinkWithdrawn):
    """A staff preview link past its time: 410, and the sentence tells staff how to get a new one."""


# `secrets.token_urlsafe(32)` gives 43 characters; anything unlike a token is refused before any query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def link_expires_at(invoice: Invoice, *, max_age_days: int) -> datetime:
    """When the invoice's link stops working: `max_age_days` after it was issued or sent, whichever is later."""
    issued = datetime.combine(invoice.issue_date, time.min, tzinfo=UTC)
    start = max(issued, invoice.sent_at) if invoice.sent_at is not None else issued
    try:
        return start + timedelta(days=max_age_days)
    except OverflowError:  # an issue date near year 9999: the link outlives the calendar
        return datetime.max.replace(tzinfo=UTC)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def resolve_invoice_token(session: AsyncSession, *, token: str, now: datetime, max_age_days: int) -> Invoice:
    """The invoice a customer's link points at; `LinkWithdrawn` for a revoked link, else `NotFound`.

    `NotFound` has one message for every reason. Drafts are not shown either: an invoice
    is only public once it has been issued.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        raise NotFound(LINK_NOT_FOUND)
    invoice = (await session.execute(select(Invoice).where(Invoice.public_token == token))).scalar_one_or_none()
    if invoice is None:
        if await session.get(RevokedInvoiceLink, token_sha256(token)) is not None:
            raise LinkWithdrawn(LINK_WITHDRAWN)
        raise NotFound(LINK_NOT_FOUND)
    if invoice.token_revoked_at is not None and invoice.status != InvoiceStatus.DRAFT:
        raise LinkWithdrawn(LINK_WITHDRAWN)
    if (
        invoice.token_revoked_at is not None
        or invoice.status == InvoiceStatus.DRAFT
        or now >= link_expires_at(invoice, max_age_days=max_age_days)
    ):
        raise NotFound(LINK_NOT_FOUND)
    return invoice


async def revoke_invoice_token(
    session: AsyncSession,
    *,
    organisation_id: int,
    number: str,
    actor: str,
    reissue: bool = True,
    now: datetime | None = None,
) -> Invoice:
    """Make every link sent so far stop working, and say who did it in the audit log.

    The invoice always gets a fresh token, so the old one can never come back. With
    `reissue` (the default) the fresh link works at once and the next email carries it;
    without, the invoice has no working link until `revoke_invoice_token` is called again
    with `reissue=True`. Does not commit: the caller's transaction holds the change and its
    audit entry together.
    """
    invoice = (
        await session.execute(
            select(Invoice).where(Invoice.organisation_id == organisation_id, Invoice.number == number)
        )
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"There is no invoice {number}.")
    revoked_at = now or utcnow()
    if await session.get(RevokedInvoiceLink, token_sha256(invoice.public_token)) is None:
        session.add(
            RevokedInvoiceLink(
                token_sha256=token_sha256(invoice.public_token),
                organisation_id=organisation_id,
                invoice_id=invoice.id,
                revoked_by=actor,
                revoked_at=revoked_at,
            )
        )
    invoice.public_token = new_public_token()
    invoice.token_revoked_at = None if reissue else revoked_at
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="invoice_link_revoked",
        subject_type="invoice",
        subject_id=invoice.id,
        detail={"number": invoice.number, "reissued": reissue},
    )
    await write_owed(session, audits=[entry])
    await session.flush()
    return invoice


async def revoke_invoice_link(units: UnitsOfWork, act: InvoiceAct, *, reissue: bool = True) -> str:
    """The *Revoke link* use case (Slack button, `invoicebot links revoke`): check, revoke, commit
    (one unit of work); the invoice's number.

    Raises `NotAllowed` (nothing changes) unless the authorisation table lets `act.actor` revoke
    links (admins; the CLI acts as the operator). Every link sent so far then answers 410; see
    `revoke_invoice_token`. `act.at` is the revocation's time (None: now).
    """
    authorize(act.rules, act.actor, Action.REVOKE_LINK)
    async with units() as unit:
        invoice = await revoke_invoice_token(
            unit.session,
            organisation_id=act.organisation_id,
            number=act.number,
            actor=act.actor,
            reissue=reissue,
            now=act.at,
        )
        return invoice.number


@dataclass(frozen=True)
class PreviewLink:
    path: str  # `/p/<token>/pdf`, to put after the public URL
    expires_at: datetime


def _signature(purpose: str, payload: str, secret: bytes) -> str:
    digest = hmac.new(secret, f"{purpose}\n{payload}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def signed_token(purpose: str, object_id: int, *, expires_at: datetime, secret: bytes) -> str:
    """`id.expiry.signature`: a short-lived staff link's token (a preview PDF, an email as sent).

    Signed with the installation's secret, the purpose in the signed text so a signature made
    for anything else never passes `check_signed_token` for this purpose."""
    payload = f"{object_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(purpose, payload, secret)}"


def check_signed_token(purpose: str, token: str, *, now: datetime, secret: bytes) -> int:
    """The id a token of `purpose` names; `NotFound` when forged, `PreviewExpired` once expired."""
    shape = _PREVIEW_SHAPE.fullmatch(token)
    if shape is None:
        raise NotFound(LINK_NOT_FOUND)
    object_id, expires, signature = shape.groups()
    if not hmac.compare_digest(signature, _signature(purpose, f"{object_id}.{expires}", secret)):
        raise NotFound(LINK_NOT_FOUND)
    if now.timestamp() >= int(expires):
        raise PreviewExpired(PREVIEW_EXPIRED)
    return int(object_id)


_PREVIEW = "invoice-preview"
_PREVIEW_SHAPE = re.compile(r"(\d{1,18})\.(\d{1,12})\.([A-Za-z0-9_-]{22})")


def preview_link(*, invoice_id: int, now: datetime, minutes: int, secret: bytes) -> PreviewLink:
    """A link to the invoice's PDF whatever its state (drafts too), for `minutes`.

    Signed with the installation's secret (the key VERP tokens use), the purpose in the
    signed text so a signature made for anything else never passes here.
    """
    expires_at = now + timedelta(minutes=minutes)
    token = signed_token(_PREVIEW, invoice_id, expires_at=expires_at, secret=secret)
    return PreviewLink(path=f"/p/{token}/pdf", expires_at=expires_at)


def check_preview_token(token: str, *, now: datetime, secret: bytes) -> int:
    """The invoice id a preview token names; `NotFound` when forged, `PreviewExpired` once expired."""
    return check_signed_token(_PREVIEW, token, now=now, secret=secret)


async def resolve_preview_token(session: AsyncSession, *, token: str, now: datetime, secret: bytes) -> Invoice:
    """The invoice a (genuine, unexpired) preview link shows, whatever its status."""
    invoice = await session.get(Invoice, check_preview_token(token, now=now, secret=secret))
    if invoice is None:
        raise NotFound(LINK_NOT_FOUND)
    return invoice


async def invoice_preview_link(
    session: AsyncSession, *, organisation_id: int, number: str, now: datetime, minutes: int, secret: bytes
) -> tuple[Invoice, PreviewLink]:
    """*Preview PDF*: the invoice (any status) and its short-lived signed link."""
    invoice = await get_invoice(session, organisation_id=organisation_id, number=number)
    return invoice, preview_link(invoice_id=invoice.id, now=now, minutes=minutes, secret=secret)
