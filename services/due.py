"""What must be sent today: due invoices, paged, each with a readiness verdict.

The page query and its count read only the partial index `ix_invoices_due_unsent`; the
unsent condition is spliced in as literal SQL (`UNSENT_PREDICATE`) so SQLite's planner
uses that index (bound `IN (?, ?)` parameters would hide it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.addresses import suppression_key
from services.db.models import UNSENT_PREDICATE, Customer, Invoice, InvoiceStatus, Suppression

_UNSENT = text(f"invoices.{UNSENT_PREDICATE}")


class NotReadyReason(StrEnum):
    NO_EMAIL = "no_email"
    DRAFT = "draft"
    SENDING_NOT_CONFIGURED = "sending_not_configured"
    SMTP_NOT_VERIFIED = "smtp_not_verified"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Problem:
    reason: NotReadyReason
    message: str


@dataclass(frozen=True)
class SendingState:
    """Whether this organisation can send at all: passed in by the caller (settings + org row)."""

    configured: bool
    verified: bool
    detail: str | None = None  # why verification failed, when it did

    def problems(self) -> list[Problem]:
        if not self.configured:
            return [Problem(NotReadyReason.SENDING_NOT_CONFIGURED, "sending is not configured (no SMTP server is set)")]
        if not self.verified:
            why = f": {self.detail}" if self.detail else ""
            return [Problem(NotReadyReason.SMTP_NOT_VERIFIED, f"SMTP settings are not verified{why}")]
        return []


@dataclass(frozen=True)
class DueInvoice:
    id: int
    number: str
    customer_id: int
    customer_name: str
    customer_language: str
    issue_date: date
    due_date: date
    currency: str
    total: Decimal
    status: InvoiceStatus
    recipients: tuple[str, ...]
    days_overdue: int
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class DuePage:
    items: tuple[DueInvoice, ...]
    total_count: int
    page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total_count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _due_filter(query: Select, *, organisation_id: int, today: date, customer_ids: list[int] | None) -> Select:
    query = query.where(Invoice.organisation_id == organisation_id, Invoice.due_date <= today, _UNSENT)
    if customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(customer_ids))
    return query


async def find_customer_ids(session: AsyncSession, *, organisation_id: int, query: str) -> list[int]:
    """Customers whose reference is `query` or whose name contains it (case-insensitive)."""
    needle = query.strip().lower()
    rows = await session.execute(
        select(Customer.id).where(
            Customer.organisation_id == organisation_id,
            (func.lower(Customer.ref) == needle) | (func.lower(Customer.name).contains(needle, autoescape=True)),
        )
    )
    return list(rows.scalars())


async def suppressed_addresses(session: AsyncSession, *, organisation_id: int, emails: set[str]) -> dict[str, str]:
    """Of `emails`, those on the active suppression list → why (lower-cased keys)."""
    if not emails:
        return {}
    keys = sorted({suppression_key(e) for e in emails})
    rows = await session.execute(
        select(Suppression.email, Suppression.reason).where(
            Suppression.organisation_id == organisation_id,
            Suppression.email.in_(keys),
            Suppression.active.is_(True),
        )
    )
    return {email: reason for email, reason in rows}


_SUPPRESSION_WORDS = {
    "hard_bounce": "bounced permanently before",
    "complaint": "marked an earlier email as spam",
    "soft_bounces": "bounced temporarily too often",
    "manual": "suppressed by an admin",
}


def verdict(
    *,
    status: InvoiceStatus,
    recipients: tuple[str, ...],
    sending: SendingState,
    suppressed: dict[str, str],
) -> tuple[Problem, ...]:
    """Every reason an invoice is not ready to send, in the order a person fixes them."""
    problems: list[Problem] = []
    if not recipients:
        problems.append(Problem(NotReadyReason.NO_EMAIL, "the customer has no recipient email"))
    if status == InvoiceStatus.DRAFT:
        problems.append(Problem(NotReadyReason.DRAFT, "not validated (still a draft)"))
    problems.extend(sending.problems())
    for address in recipients:
        why = suppressed.get(suppression_key(address))
        if why:
            words = _SUPPRESSION_WORDS.get(why, why)
            problems.append(Problem(NotReadyReason.SUPPRESSED, f"{address} is on the suppression list ({words})"))
    return tuple(problems)


async def count_due_invoices(
    session: AsyncSession, *, organisation_id: int, today: date, customer_ids: list[int] | None = None
) -> int:
    query = _due_filter(
        select(func.count()).select_from(Invoice),
        organisation_id=organisation_id,
        today=today,
        customer_ids=customer_ids,
    )
    return int((await session.execute(query)).scalar_one())


_PAGE_COLUMNS = (
    Invoice.id,
    Invoice.number,
    Invoice.customer_id,
    Customer.name,
    Customer.language,
    Invoice.issue_date,
    Invoice.due_date,
    Invoice.currency,
    Invoice.total,
    Invoice.status,
    Invoice.recipient_emails,
    Customer.emails,
)


async def list_due_invoices(
    session: AsyncSession,
    *,
    organisation_id: int,
    today: date,
    sending: SendingState,
    customer: str | None = None,
    page: int = 1,
    page_size: int = 10,
    with_count: bool = True,
) -> DuePage:
    """Invoices due today or earlier and not sent (nor void, nor paid), oldest first.

    `customer` filters by customer reference or name fragment. `page` is 1-based; a page
    past the end is clamped to the last one, so a stale *Next* button still shows rows.
    """
    if page_size < 1:
        raise ValueError("page_size must be positive")
    customer_ids = None
    if customer and customer.strip():
        customer_ids = await find_customer_ids(session, organisation_id=organisation_id, query=customer)
        if not customer_ids:
            return DuePage(items=(), total_count=0, page=1, page_size=page_size)
    total = (
        await count_due_invoices(session, organisation_id=organisation_id, today=today, customer_ids=customer_ids)
        if with_count
        else -1
    )
    page = max(1, page)
    if with_count:
        page = min(page, max(1, -(-total // page_size)))
    query = (
        _due_filter(select(*_PAGE_COLUMNS), organisation_id=organisation_id, today=today, customer_ids=customer_ids)
        .join(Customer, Customer.id == Invoice.customer_id)
        .order_by(Invoice.due_date, Invoice.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = (await session.execute(query)).all()
    recipients_by_row = [tuple(own if own is not None else (emails or [])) for *_, own, emails in rows]
    all_addresses = {address for recipients in recipients_by_row for address in recipients}
    suppressed = await suppressed_addresses(session, organisation_id=organisation_id, emails=all_addresses)
    items = []
    for row, recipients in zip(rows, recipients_by_row, strict=True):
        status = InvoiceStatus(row[9])
        items.append(
            DueInvoice(
                id=row[0],
                number=row[1],
                customer_id=row[2],
                customer_name=row[3],
                customer_language=row[4],
                issue_date=row[5],
                due_date=row[6],
                currency=row[7],
                total=row[8],
                status=status,
                recipients=recipients,
                days_overdue=(today - row[6]).days,
                problems=verdict(status=status, recipients=recipients, sending=sending, suppressed=suppressed),
            )
        )
    return DuePage(items=tuple(items), total_count=total, page=page, page_size=page_size)
