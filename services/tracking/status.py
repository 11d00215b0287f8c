"""Reading deliveries back: one delivery's status message, recent sends, and problems.

Plain dataclasses only, so the Slack block builders are pure functions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.db.models import (
    Approval,
    Customer,
    Delivery,
    DeliveryEvent,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    ReminderInvoice,
    SentVia,
)
from services.errors import InvalidInput, NotFound
from services.formatting import format_money, reader_locale
from services.invoicing.search import matching_customer_ids
from services.invoicing.states import NOTHING_SENT
from services.paging import Paging, clamped_page
from services.tracking.sent_filter import GRAMMAR, SentFilter

PROBLEM_STATUSES = frozenset(
    {
        DeliveryStatus.BOUNCED,
        DeliveryStatus.DROPPED,
        DeliveryStatus.COMPLAINED,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNKNOWN,
    }
)
MAX_TIMELINE = 50
MAX_LIST = 100


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    source: str  # smtp, dsn, postmark, sendgrid, mailgun, ses, pixel, link
    type: str
    recipient: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class DeliveryStatusView:
    """Everything the one status message of a delivery shows."""

    delivery_id: int
    kind: str
    invoice_number: str
    customer_name: str
    amount: str  # formatted, e.g. €1,234.50
    total: Decimal
    currency: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    status: str
    smtp_reply: str | None
    last_error: str | None
    requested_by: str
    approved_by: str | None
    approval_decision: str | None
    rejected_reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    timeline: tuple[TimelineEntry, ...]
    slack_channel: str | None
    slack_ts: str | None
    # Who decided the approval request and when (None while pending or when none was needed).
    approval_decided_by: str | None = None
    approval_decided_at: datetime | None = None
    locale: str = "en"  # the team's (organisation's) locale: how the amount and times are written
    reminder_numbers: tuple[str, ...] = ()  # a reminder's email: the invoices its reminder lists


@dataclass(frozen=True)
class DeliverySummary:
    """One line of `/invoices sent` or `/invoices problems`."""

    delivery_id: int
    invoice_number: str
    customer_name: str
    amount: str
    to: tuple[str, ...]
    status: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    detail: str | None  # the last error, else the SMTP reply
    locale: str = "en"  # the team's (organisation's) locale: how the amount and times are written
    silent: bool = False  # accepted, then no news past the alert's hours (services/tracking/silent.py)
    reminder: bool = False  # a payment reminder (named by its first invoice), not the invoice's own email


async def delivery_status_view(
    session: AsyncSession, *, delivery_id: int, organisation_id: int | None = None
) -> DeliveryStatusView:
    query = (
        select(Delivery, Invoice, Customer.name, Approval, Organisation.default_language, Organisation.country)
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .join(Organisation, Organisation.id == Delivery.organisation_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(Approval, Approval.delivery_id == Delivery.id)
        .where(Delivery.id == delivery_id)
        .execution_options(populate_existing=True)
    )
    if organisation_id is not None:
        query = query.where(Delivery.organisation_id == organisation_id)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound("There is no such send.")
    delivery, invoice, customer_name, approval, team_language, team_country = row
    locale = reader_locale(team_language, team_country)
    events = (
        await session.execute(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == delivery.id)
            .order_by(DeliveryEvent.occurred_at.desc(), DeliveryEvent.id.desc())
            .limit(MAX_TIMELINE)
        )
    ).scalars()
    timeline = tuple(
        reversed([TimelineEntry(e.occurred_at, e.source, e.type, e.recipient, dict(e.detail or {})) for e in events])
    )
    numbers: tuple[str, ...] = ()
    if delivery.kind == DeliveryKind.REMINDER and delivery.reminder_id is not None:
        listed = select(Invoice.number).join(ReminderInvoice, ReminderInvoice.invoice_id == Invoice.id)
        listed = listed.where(ReminderInvoice.reminder_id == delivery.reminder_id).order_by(ReminderInvoice.id)
        numbers = tuple((await session.execute(listed)).scalars())
    return DeliveryStatusView(
        delivery_id=delivery.id,
        kind=delivery.kind,
        invoice_number=invoice.number,
        customer_name=customer_name,
        amount=format_money(invoice.total, invoice.currency, locale),
        total=invoice.total,
        currency=invoice.currency,
        to=tuple(delivery.to),
        cc=tuple(delivery.cc),
        bcc=tuple(delivery.bcc),
        subject=delivery.subject,
        status=delivery.status,
        smtp_reply=delivery.smtp_reply,
        last_error=delivery.last_error,
        requested_by=delivery.requested_by,
        approved_by=delivery.approved_by,
        approval_decision=approval.decision if approval else None,
        rejected_reason=approval.reason if approval else None,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        timeline=timeline,
        slack_channel=delivery.slack_channel,
        slack_ts=delivery.slack_ts,
        approval_decided_by=approval.decided_by if approval else None,
        approval_decided_at=approval.decided_at if approval else None,
        locale=locale,
        reminder_numbers=numbers,
    )


# (delivery id, to, status, requested by, created, updated, last error, SMTP reply, silent alerted,
#  invoice number, total, currency, customer name, team language, team country)
_SummaryRow = tuple[
    int, list[str], DeliveryStatus, str, datetime, datetime, str | None, str | None, datetime | None,
    str, Decimal, str, str, str, str, DeliveryKind,
]  # fmt: skip


def _summaries_query(
    organisation_id: int, kinds: tuple[DeliveryKind, ...] = (DeliveryKind.INVOICE,)
) -> Select[*_SummaryRow]:
    """The listing's columns as plain rows, not ORM entities: App Home and `/invoices sent` read
    a handful of sends often, and building Delivery objects was most of their time (benchmarks/app_home.py).
    `kinds`: invoice emails by default; the problems list takes reminders too."""
    return (
        select(
            Delivery.id,
            Delivery.to,
            Delivery.status,
            Delivery.requested_by,
            Delivery.created_at,
            Delivery.updated_at,
            Delivery.last_error,
            Delivery.smtp_reply,
            Delivery.silent_alerted_at,
            Invoice.number,
            Invoice.total,
            Invoice.currency,
            Customer.name,
            Organisation.default_language,
            Organisation.country,
            Delivery.kind,
        )
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .join(Organisation, Organisation.id == Delivery.organisation_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(Delivery.organisation_id == organisation_id, Delivery.kind.in_([kind.value for kind in kinds]))
    )


async def _summaries(session: AsyncSession, query: Select[*_SummaryRow]) -> list[DeliverySummary]:
    summaries = []
    for (
        delivery_id, to, status, requested_by, created_at, updated_at, last_error, smtp_reply, silent_alerted_at,
        number, total, currency, customer_name, team_language, team_country, kind,
    ) in (await session.execute(query)).all():  # fmt: skip
        locale = reader_locale(team_language, team_country)
        summaries.append(
            DeliverySummary(
                delivery_id=delivery_id,
                invoice_number=number,
                customer_name=customer_name,
                amount=format_money(total, currency, locale),
                to=tuple(to),
                status=status,
                requested_by=requested_by,
                created_at=created_at,
                updated_at=updated_at,
                detail=last_error or smtp_reply,
                locale=locale,
                silent=status == DeliveryStatus.ACCEPTED and silent_alerted_at is not None,
                reminder=kind == DeliveryKind.REMINDER,
            )
        )
    return summaries


async def list_recent_deliveries(
    session: AsyncSession,
    *,
    organisation_id: int,
    limit: int = 20,
    since: datetime | None = None,
    where: ColumnElement[bool] | None = None,
    oldest_first: bool = False,
) -> list[DeliverySummary]:
    """Invoice sends, newest first (previews left out), for `/invoices sent`; `where` narrows them
    (App Home's sections), `oldest_first` turns the order (what waits longest comes first)."""
    query = _summaries_query(organisation_id)
    if since is not None:
        query = query.where(Delivery.created_at >= since)
    if where is not None:
        query = query.where(where)
    order = (Delivery.created_at, Delivery.id) if oldest_first else (Delivery.created_at.desc(), Delivery.id.desc())
    query = query.order_by(*order).limit(max(1, min(limit, MAX_LIST)))
    return await _summaries(session, query)


@dataclass(frozen=True, kw_only=True)
class SentQuery:
    """One page of `/invoices sent` for an organisation, narrowed by a `SentFilter`."""

    organisation_id: int
    filter: SentFilter = field(default_factory=SentFilter)
    page: int = 1
    page_size: int = 20


@dataclass(frozen=True, kw_only=True)
class SentPage(Paging):
    items: tuple[DeliverySummary, ...]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def _sent_conditions(session: AsyncSession, query: SentQuery) -> list[ColumnElement[bool]]:
    wanted = query.filter
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer:
        ids = await matching_customer_ids(session, organisation_id=query.organisation_id, text=wanted.customer)
        if not ids:
            raise InvalidInput(
                f"I did not understand “{wanted.customer[:80]}”: it is no status, period or customer name. "
                f"Write {GRAMMAR}."
            )
        conditions.append(Invoice.customer_id.in_(ids))
    if wanted.statuses:
        conditions.append(Delivery.status.in_(sorted(status.value for status in wanted.statuses)))
    if wanted.since is not None:
        conditions.append(Delivery.created_at >= _start_of(wanted.since))
    if wanted.until is not None:
        conditions.append(Delivery.created_at < _start_of(wanted.until + timedelta(days=1)))
    return conditions


async def list_sent_page(session: AsyncSession, query: SentQuery) -> SentPage:
    """Invoice sends matching the filter, newest first, one page of them with the total count.

    A customer that matches nobody is refused (InvalidInput naming it): the words were not
    understood, rather than a listing that is silently empty.
    """
    conditions = await _sent_conditions(session, query)
    counted = (
        select(func.count(Delivery.id))
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .where(
            Delivery.organisation_id == query.organisation_id,
            Delivery.kind == DeliveryKind.INVOICE.value,
            *conditions,
        )
    )
    total = (await session.execute(counted)).scalar_one()
    page = clamped_page(query.page, total_count=total, page_size=query.page_size)
    paging = Paging(total_count=total, page=page, page_size=query.page_size)
    items: list[DeliverySummary] = []
    if total:
        listed = (
            _summaries_query(query.organisation_id)
            .where(*conditions)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(query.page_size)
            .offset(paging.offset)
        )
        items = await _summaries(session, listed)
    return SentPage(items=tuple(items), total_count=total, page=page, page_size=query.page_size)


async def list_problem_deliveries(
    session: AsyncSession, *, organisation_id: int, limit: int = 20, since: datetime | None = None
) -> list[DeliverySummary]:
    """Bounced, dropped, complained, failed, unknown or silent sends whose problem is still open,
    invoice emails and payment reminders alike (a bounced reminder is a customer not reached).

    A problem is over once a later send of the same invoice was asked for (whatever became
    of it: its own problem is listed instead), or the invoice was marked as sent by hand,
    paid or voided — the rule services.tracking.alert_resolution.resolution_of applies to one
    alert, written here as SQL for the list. A reminder's problem is over once a later reminder
    to the same customer was asked for (its alert says: correct the address, the next one goes
    to it), or its first invoice is settled. So the list is what still needs a person.
    """
    later, later_invoice = aliased(Delivery), aliased(Invoice)
    invoice_followed_up = exists().where(
        later.invoice_id == Delivery.invoice_id,
        later.kind == DeliveryKind.INVOICE.value,
        later.id > Delivery.id,
        later.status.not_in(NOTHING_SENT),
    )
    reminder_followed_up = exists().where(
        later_invoice.id == later.invoice_id,
        later_invoice.customer_id == Invoice.customer_id,
        later.kind == DeliveryKind.REMINDER.value,
        later.id > Delivery.id,
        later.status.not_in(NOTHING_SENT),
    )
    is_reminder = Delivery.kind == DeliveryKind.REMINDER.value
    followed_up = (is_reminder & reminder_followed_up) | (~is_reminder & invoice_followed_up)
    settled = Invoice.status.in_([InvoiceStatus.PAID.value, InvoiceStatus.VOID.value]) | (
        (Invoice.status == InvoiceStatus.SENT.value) & (func.coalesce(Invoice.sent_via, "") == SentVia.MANUAL.value)
    )  # NULL-safe: `~settled` must not drop a sent invoice whose `sent_via` was never set
    # Silent: accepted, then no news past the alert's hours (alert_resolution.has_problem's second case).
    silent = (Delivery.status == DeliveryStatus.ACCEPTED.value) & Delivery.silent_alerted_at.is_not(None)
    query = _summaries_query(organisation_id, (DeliveryKind.INVOICE, DeliveryKind.REMINDER)).where(
        Delivery.status.in_(sorted(s.value for s in PROBLEM_STATUSES)) | silent, ~followed_up, ~settled
    )
    if since is not None:
        query = query.where(Delivery.updated_at >= since)
    query = query.order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    return await _summaries(session, query)


async def invoice_delivery_views(
    session: AsyncSession, *, organisation_id: int, invoice_id: int, limit: int = 5
) -> list[DeliveryStatusView]:
    """The latest emails of one invoice (newest first), each with its timeline, for `show`."""
    ids = (
        await session.execute(
            select(Delivery.id)
            .where(Delivery.organisation_id == organisation_id, Delivery.invoice_id == invoice_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(limit)
        )
    ).scalars()
    return [
        await delivery_status_view(session, delivery_id=delivery_id, organisation_id=organisation_id)
        for delivery_id in list(ids)
    ]
