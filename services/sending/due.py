"""What must be sent today: due invoices, paged, each with a readiness verdict.

The page query and its count read only the partial index `ix_invoices_due_unsent`; the
unsent condition is spliced in as literal SQL (`UNSENT_PREDICATE`) so SQLite's planner
uses that index (bound `IN (?, ?)` parameters would hide it).

Each page also reads the latest email of its validated invoices (one query on
`ix_deliveries_invoice`), so a bounce or an email that may have arrived shows with its
reason and keeps the invoice out of *Send all ready*.

This is the hot path of `/invoices due`, held to a benchmark (benchmarks/due_listing.py:
first page ≤ 2 ms, count ≤ 10 ms at 1 M invoices, ≤ 1.5× hand-written SQL). Hence:
statements are built once and reused (building a `select()` costs more than the query);
they run as Core on the session's connection inside one `run_sync` call (the ORM's
`session.execute` and a greenlet hop per statement cost ~0.1 ms each); and LIMIT/OFFSET are
literal, because PostgreSQL cannot cost a bound LIMIT and then re-plans the prepared
statement on every call instead of reusing its plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, Row, Select, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from services.db.models import UNSENT_PREDICATE, Customer, DocumentKind, Invoice, InvoiceStatus, Suppression
from services.email.addresses import suppression_key
from services.invoicing.payments import credited_amounts, paid_amounts
from services.invoicing.search import matching_customer_ids
from services.invoicing.states import (
    InvoiceState,
    InvoiceStateView,
    LatestDelivery,
    invoice_state,
    read_latest_deliveries,
)
from services.paging import Paging, clamped_page
from services.sending.readiness import NotReadyReason, Problem, SendingState

_UNSENT = text(f"invoices.{UNSENT_PREDICATE}")


# The invoice states that keep an invoice out of *Send all ready*, and the reason they give.
_STATE_PROBLEMS = {
    InvoiceState.NOT_RECEIVED: NotReadyReason.NOT_RECEIVED,
    InvoiceState.MAY_HAVE_ARRIVED: NotReadyReason.MAY_HAVE_ARRIVED,
    InvoiceState.SENDING: NotReadyReason.BEING_SENT,
}


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
    state: InvoiceStateView | None = None  # as a person sees it (services.invoicing.states)
    paid: Decimal = Decimal(0)  # payments recorded against it (services.invoicing.payments)
    credited: Decimal = Decimal(0)  # its issued credit notes (services.invoicing.balance)
    is_credit_note: bool = False  # listed and sent like an invoice, marked "Credit note"

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True, kw_only=True)
class DuePage(Paging):
    items: tuple[DueInvoice, ...]


def _connection(session: Session) -> Connection:
    """The session's own connection and transaction, after flushing pending changes as
    `session.execute` would, so a caller still sees its own unflushed rows."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection()


def _due_conditions(*, by_customer: bool) -> list[ColumnElement[bool] | TextClause]:
    conditions: list[ColumnElement[bool] | TextClause] = [
        Invoice.organisation_id == bindparam("organisation_id"),
        Invoice.due_date <= bindparam("today"),
        _UNSENT,
    ]
    if by_customer:
        conditions.append(Invoice.customer_id.in_(bindparam("customer_ids", expanding=True)))
    return conditions


_COUNTS = {
    by_customer: select(func.count()).select_from(Invoice).where(*_due_conditions(by_customer=by_customer))
    for by_customer in (False, True)
}


# (id, number, customer id, customer name, customer language, issue date, due date, currency, total,
# status, kind, the invoice's own recipients, the customer's emails): one row of the page query.
_DueRow = tuple[int, str, int, str, str, date, date, str, Decimal, str, str, list[str] | None, list[str]]


@lru_cache(maxsize=64)
def _page_statement(by_customer: bool, limit: int, offset: int) -> Select[*_DueRow]:
    return (
        select(
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
            Invoice.kind,
            Invoice.recipient_emails,
            Customer.emails,
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(*_due_conditions(by_customer=by_customer))
        .order_by(Invoice.due_date, Invoice.id)
        .limit(literal_column(str(int(limit)), Integer))
        .offset(literal_column(str(int(offset)), Integer))
    )


@lru_cache(maxsize=64)
def _suppressions_statement(how_many: int) -> Select[str, str]:
    return select(Suppression.email, Suppression.reason).where(
        Suppression.organisation_id == bindparam("organisation_id"),
        Suppression.email.in_([bindparam(f"email_{n}") for n in range(how_many)]),
        Suppression.active.is_(True),
    )


def _suppressed(connection: Connection, organisation_id: int, emails: set[str]) -> dict[str, str]:
    if not emails:
        return {}
    keys = sorted({suppression_key(e) for e in emails})
    parameters: dict[str, Any] = {f"email_{n}": key for n, key in enumerate(keys)}
    parameters["organisation_id"] = organisation_id
    rows = connection.execute(_suppressions_statement(len(keys)), parameters)
    return {email: reason for email, reason in rows}


def _due_parameters(*, organisation_id: int, today: date, customer_ids: list[int] | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"organisation_id": organisation_id, "today": today}
    if customer_ids is not None:
        parameters["customer_ids"] = customer_ids
    return parameters


def _count(session: Session, parameters: dict[str, Any]) -> int:
    return int(_connection(session).execute(_COUNTS["customer_ids" in parameters], parameters).scalar_one())


def _page_rows(
    session: Session, parameters: dict[str, Any], limit: int, offset: int
) -> tuple[list[Row[*_DueRow]], list[tuple[str, ...]], dict[str, str], dict[int, LatestDelivery]]:
    """The page's rows, each row's recipients, which of them are suppressed, and the latest
    email of each validated row (a draft was never sent): three queries at most."""
    connection = _connection(session)
    statement = _page_statement("customer_ids" in parameters, limit, offset)
    rows = list(connection.execute(statement, parameters).all())
    recipients_by_row = [tuple(own if own is not None else (emails or [])) for *_, own, emails in rows]
    addresses = {address for recipients in recipients_by_row for address in recipients}
    suppressed = _suppressed(connection, parameters["organisation_id"], addresses)
    validated = [row[0] for row in rows if row[9] != InvoiceStatus.DRAFT]
    return rows, recipients_by_row, suppressed, read_latest_deliveries(connection, validated)


async def suppressed_addresses(session: AsyncSession, *, organisation_id: int, emails: set[str]) -> dict[str, str]:
    """Of `emails`, those on the active suppression list → why (lower-cased keys)."""
    if not emails:
        return {}
    return await session.run_sync(lambda sync: _suppressed(_connection(sync), organisation_id, emails))


_SUPPRESSION_WORDS = {
    "hard_bounce": "bounced permanently before",
    "complaint": "marked an earlier email as spam",
    "soft_bounces": "bounced temporarily too often",
    "manual": "suppressed by an admin",
}


def state_problems(state: InvoiceStateView) -> tuple[Problem, ...]:
    """The reason the invoice's latest email keeps it from being sent without a person: not
    received, may have arrived, or being sent. Empty when its email says nothing against it."""
    reason = _STATE_PROBLEMS.get(state.state)
    return (Problem(reason, state.detail),) if reason is not None else ()


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
    parameters = _due_parameters(organisation_id=organisation_id, today=today, customer_ids=customer_ids)
    return await session.run_sync(_count, parameters)


@dataclass(frozen=True, kw_only=True)
class DueQuery:
    """Which due invoices: the organisation's, due by `today`, judged against its `sending`
    state, optionally of one `customer` (reference or name fragment)."""

    organisation_id: int
    today: date
    sending: SendingState
    customer: str | None = None


async def list_due_invoices(
    session: AsyncSession, query: DueQuery, *, page: int = 1, page_size: int = 10, with_count: bool = True
) -> DuePage:
    """Invoices due today or earlier and not sent (nor void, nor paid), oldest first.

    An invoice whose email bounced or failed is unsent again (services.tracking.follow), so
    it is listed here with the reason; one whose email may have arrived (`unknown`), or is
    being sent, is listed too and is not ready: each item carries its `state`.
    `query.customer` filters by customer reference or name fragment. `page` is 1-based; a page
    past the end is clamped to the last one, so a stale *Next* button still shows rows.
    """
    if page_size < 1:
        raise ValueError("page_size must be positive")
    organisation_id, today, customer = query.organisation_id, query.today, query.customer
    customer_ids = None
    if customer and customer.strip():
        customer_ids = await matching_customer_ids(session, organisation_id=organisation_id, text=customer)
        if not customer_ids:
            return DuePage(items=(), total_count=0, page=1, page_size=page_size)
    total = (
        await count_due_invoices(session, organisation_id=organisation_id, today=today, customer_ids=customer_ids)
        if with_count
        else -1
    )
    page = clamped_page(page, total_count=total, page_size=page_size) if with_count else max(1, page)
    parameters = _due_parameters(organisation_id=organisation_id, today=today, customer_ids=customer_ids)
    rows, recipients_by_row, suppressed, latest = await session.run_sync(
        _page_rows, parameters, page_size, (page - 1) * page_size
    )
    validated_ids = [row[0] for row in rows if row[9] != InvoiceStatus.DRAFT]
    paid = await paid_amounts(session, validated_ids)  # one query
    credited = await credited_amounts(session, validated_ids)  # and one
    items = []
    for row, recipients in zip(rows, recipients_by_row, strict=True):
        status = InvoiceStatus(row[9])
        state = invoice_state(status=status, sent_via=None, latest=latest.get(row[0]))
        problems = verdict(status=status, recipients=recipients, sending=query.sending, suppressed=suppressed)
        problems = (*state_problems(state), *problems)
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
                problems=problems,
                state=state,
                paid=paid.get(row[0], Decimal(0)),
                credited=credited.get(row[0], Decimal(0)),
                is_credit_note=row[10] == DocumentKind.CREDIT_NOTE,
            )
        )
    return DuePage(items=tuple(items), total_count=total, page=page, page_size=page_size)


@dataclass(frozen=True)
class ReadyInvoices:
    """The due invoices that are ready to send, across every page, up to a bound."""

    items: tuple[DueInvoice, ...]
    more: bool  # True when the bound cut the list: there are more ready invoices than `items`


async def list_ready_due_invoices(
    session: AsyncSession, query: DueQuery, *, limit: int = 500, batch: int = 200
) -> ReadyInvoices:
    """Every ready due invoice (oldest first), for *Send all ready*: bounded by `limit`.

    Walks the due listing page by page (each page one indexed query), so the cost grows
    with the number of due invoices read, never with the size of the table.
    """
    if query.sending.problems():
        return ReadyInvoices(items=(), more=False)
    ready: list[DueInvoice] = []
    page_number = 1
    while True:
        page = await list_due_invoices(session, query, page=page_number, page_size=batch, with_count=False)
        for item in page.items:
            if item.ready:
                if len(ready) == limit:
                    return ReadyInvoices(items=tuple(ready), more=True)
                ready.append(item)
        if len(page.items) < batch:
            return ReadyInvoices(items=tuple(ready), more=False)
        page_number += 1
