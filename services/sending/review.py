"""What the review modal shows before a send: recipients, wording, warnings.

`prepare_review` only reads. It gathers the defaults (the invoice's recipients, the
customer's cc and language, the subject and message rendered from the organisation's
templates) and the warnings a person should see before clicking *Send*: readiness
problems, suppressed addresses and a recent or in-flight send of the same invoice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Attachments,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    SentVia,
    Suppression,
)
from services.documents.formats import payment_details
from services.documents.model import payment_of
from services.email.addresses import suppression_key
from services.email.email_texts import STANDARD_TEXT, choose_text
from services.email.template_overrides import load_overrides
from services.email.templates import InvoiceEmailFacts, invoice_email_context, render_invoice_email
from services.formatting import format_balance, format_day, format_money, reader_locale
from services.invoicing.balance import corrected_invoice_number
from services.invoicing.invoices import get_invoice, recipients_of
from services.invoicing.organisations import organisation_locale, team_locale
from services.invoicing.payments import balance_of_invoice
from services.invoicing.settings_store import organisation_copies, sender_from_name
from services.invoicing.states import IN_FLIGHT, SENT_OK, InvoiceStateView, latest_deliveries, state_of_invoice
from services.languages import normalise_language
from services.sending.due import verdict
from services.sending.readiness import Problem, SendingState
from services.sending.risk import recipient_risk

RESEND_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class SuppressedAddress:
    email: str
    reason: str  # hard_bounce, complaint, soft_bounces, manual
    since: datetime
    message: str  # "ap@x.example is on the suppression list (bounced permanently on 2026-11-20)"


@dataclass(frozen=True)
class RecentSend:
    """The in-flight or recent send a person should know about before sending again."""

    delivery_id: int | None  # None when the invoice was marked as sent by hand
    status: str
    by: str | None
    at: datetime
    in_flight: bool

    def question(self, number: str, now: datetime) -> str:
        """ "INV-1 was sent 4 minutes ago by <@U1> — send again?" """
        who = f" by <@{self.by}>" if self.by else ""
        ago = humanise_ago(self.at, now)
        if self.status == DeliveryStatus.UNKNOWN:
            return (
                f"{number} may have arrived: the connection broke after its email was handed over to the mail"
                f" server ({ago}{who}), so the customer may already have it. Check with the customer before"
                " sending again — send again anyway?"
            )
        if self.status == DeliveryStatus.AWAITING_APPROVAL:
            return f"{number} is waiting for approval (asked {ago}{who}) — send again?"
        if self.in_flight:
            return f"{number} is being sent right now (asked {ago}{who}) — send again?"
        if self.status == SentVia.MANUAL:
            return f"{number} was marked as sent {ago}{who} — send it by email anyway?"
        return f"{number} was sent {ago}{who} — send again?"


@dataclass(frozen=True)
class ReviewDraft:
    invoice_id: int
    invoice_number: str
    customer_name: str
    amount: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    language: str
    subject: str
    message: str
    html: str
    attachments: Attachments
    suppressed: tuple[SuppressedAddress, ...]
    problems: tuple[Problem, ...]
    recent: RecentSend | None
    state: InvoiceStateView | None = None  # as a person sees it (services.invoicing.states)
    approval_reason: str | None = None  # the risk rule's: why this send will wait for an approver
    text: str = STANDARD_TEXT  # the preset email text the subject and message come from
    texts: tuple[str, ...] = (STANDARD_TEXT,)  # the presets of this language (services.email.email_texts)

    @property
    def ready(self) -> bool:
        return not self.problems


def humanise_ago(at: datetime, now: datetime) -> str:
    """ "just now", "4 minutes ago", "3 hours ago", "yesterday", "5 days ago"."""
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = hours // 24
    return "yesterday" if days == 1 else f"{days} days ago"


_SUPPRESSION_WORDS = {
    "hard_bounce": "bounced permanently on {day}",
    "complaint": "marked an email as spam on {day}",
    "soft_bounces": "bounced temporarily too often, last on {day}",
    "manual": "suppressed by an admin on {day}",
}


async def suppressed_among(
    session: AsyncSession, *, organisation_id: int, emails: list[str]
) -> tuple[SuppressedAddress, ...]:
    """Of `emails` (in their order), those on the active suppression list, with why and since when."""
    keys = {suppression_key(e): e for e in emails}
    if not keys:
        return ()
    rows = (
        await session.execute(
            select(Suppression).where(
                Suppression.organisation_id == organisation_id,
                Suppression.email.in_(sorted(keys)),
                Suppression.active.is_(True),
            )
        )
    ).scalars()
    by_key = {row.email: row for row in rows}
    locale = await team_locale(session, organisation_id=organisation_id) if by_key else ""
    found = []
    for key, address in keys.items():
        row = by_key.get(key)
        if row is None:
            continue
        words = _SUPPRESSION_WORDS.get(row.reason, row.reason.replace("_", " ") + " on {day}")
        message = (
            f"{address} is on the suppression list ({words.format(day=format_day(row.created_at.date(), locale))})"
        )
        found.append(SuppressedAddress(email=address, reason=row.reason, since=row.created_at, message=message))
    return tuple(found)


async def recent_send(session: AsyncSession, *, invoice: Invoice, now: datetime) -> RecentSend | None:
    """An email of this invoice that may have arrived (`unknown`, the latest one, at any age),
    else an in-flight send, else one sent (or marked sent) in the last 24 h."""
    latest = (await latest_deliveries(session, [invoice.id])).get(invoice.id)
    if latest is not None and latest.status == DeliveryStatus.UNKNOWN:
        return RecentSend(latest.id, latest.status, latest.requested_by, latest.updated_at, False)
    rows = (
        await session.execute(
            select(Delivery)
            .where(
                Delivery.invoice_id == invoice.id,
                Delivery.kind == DeliveryKind.INVOICE.value,
                Delivery.status.in_([s.value for s in IN_FLIGHT | SENT_OK]),
            )
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(20)
        )
    ).scalars()
    recent_ok: Delivery | None = None
    for delivery in rows:
        if delivery.status in IN_FLIGHT:
            return RecentSend(delivery.id, delivery.status, delivery.requested_by, delivery.created_at, True)
        sent_at = delivery.finished_at or delivery.updated_at
        if recent_ok is None and now - sent_at < RESEND_WINDOW:
            recent_ok = delivery
    if recent_ok is not None:
        at = recent_ok.finished_at or recent_ok.updated_at
        return RecentSend(recent_ok.id, recent_ok.status, recent_ok.requested_by, at, False)
    if invoice.sent_at is not None and now - invoice.sent_at < RESEND_WINDOW:
        return RecentSend(None, invoice.sent_via or SentVia.MANUAL, invoice.sent_by, invoice.sent_at, False)
    return None


@dataclass(frozen=True, kw_only=True)
class ReviewRequest:
    """Which invoice the review modal opens on, and what it is judged against: the public URL
    its link uses, the time, the organisation's sending state, and the email's language."""

    organisation_id: int
    invoice_number: str
    public_url: str
    now: datetime
    sending: SendingState | None = None
    language: str | None = None
    risk_rule: bool = False  # the organisation's risk rule is on: say when (and why) the send will ask approval
    text: str | None = None  # the preset text picked in the modal; None: the customer's default, else Standard


async def prepare_review(session: AsyncSession, request: ReviewRequest) -> ReviewDraft:
    """The review modal's defaults and warnings for one invoice. Reads only.

    Cc holds the customer's cc and the organisation's own Cc addresses (its settings), Bcc the
    organisation's own Bcc: shown in the modal, where the person may remove them.

    `request.sending` adds the organisation's readiness problems (SMTP not configured / not
    verified) to `problems`; without it only the invoice's own problems are listed.
    The message is signed with the From name the worker sends with (`sender_from_name`). `request.risk_rule`:
    the organisation's risk rule is on, so the draft says when (and why) the send will ask approval.
    """
    organisation_id = request.organisation_id
    invoice = await get_invoice(session, organisation_id=organisation_id, number=request.invoice_number)
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None  # the invoice belongs to it
    customer = invoice.customer
    language = normalise_language(request.language or customer.language or organisation.default_language)
    to = recipients_of(invoice)
    own_cc, own_bcc = await organisation_copies(session, organisation_id=organisation_id)
    cc = _without([*customer.cc, *own_cc], to)  # the organisation's own copies, removable in the modal
    bcc = _without(own_bcc, [*to, *cc])
    # The modal is read by the team (the organisation's locale); the email by the customer
    # (its language in the seller's country, as the PDF beside it).
    corrected = await corrected_invoice_number(session, invoice)
    if corrected:  # a credit note asks for nothing: its amount is what it credits
        amount = format_money(invoice.total, invoice.currency, organisation_locale(organisation))
    else:
        balance = await balance_of_invoice(session, invoice)
        locale = organisation_locale(organisation)
        amount = format_balance(invoice.total, balance.paid, invoice.currency, locale, balance.credited)
    context = invoice_email_context(
        InvoiceEmailFacts(
            locale=reader_locale(language, organisation.country),
            language=language,
            organisation_name=organisation.name,
            customer_name=customer.name,
            invoice_number=invoice.number,
            total=invoice.total,
            currency=invoice.currency,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            invoice_url=f"{request.public_url.rstrip('/')}/i/{invoice.public_token}",
            sender_name=await sender_from_name(session, organisation=organisation),
            payment=None if corrected else payment_details(payment_of(invoice, organisation)),
            credit_note_for=corrected,
        )
    )
    chosen = await choose_text(
        session,
        organisation_id=organisation_id,
        language=language,
        wanted=(request.text, customer.default_email_text),
        template_overrides=await load_overrides(session, organisation_id=organisation_id, language=language),
    )
    rendered = render_invoice_email(language=language, context=context, overrides=chosen.overrides)
    suppressed = await suppressed_among(session, organisation_id=organisation_id, emails=[*to, *cc])
    problems = verdict(
        status=InvoiceStatus(invoice.status),
        recipients=tuple(to),
        sending=request.sending or SendingState(configured=True, verified=True),
        suppressed={suppression_key(s.email): s.reason for s in suppressed},
    )
    return ReviewDraft(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        customer_name=customer.name,
        amount=amount,
        to=tuple(to),
        cc=tuple(cc),
        bcc=tuple(bcc),
        language=language,
        subject=rendered.subject,
        message=rendered.text,
        html=rendered.html,
        attachments=Attachments.PDF,
        suppressed=suppressed,
        problems=problems,
        recent=await recent_send(session, invoice=invoice, now=request.now),
        state=await state_of_invoice(session, invoice=invoice),
        approval_reason=(
            await recipient_risk(session, organisation_id=organisation_id, customer=customer, recipients=[*to, *cc])
            if request.risk_rule
            else None
        ),
        text=chosen.name,
        texts=chosen.names,
    )


def _without(addresses: Sequence[str], taken: Sequence[str]) -> list[str]:
    """`addresses` once each (case-insensitively), leaving out those already in `taken`."""
    seen = {address.lower() for address in taken}
    kept: list[str] = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            kept.append(address)
    return kept
