"""What one person's App Home shows: the team's dashboard, read in a few indexed queries.

Sections: sends waiting for *this* person's approval (the authorization table decides who may
approve, four eyes included), what needs attention (open problems from
services.tracking.status — bounced, failed, unknown and silent emails alike — and active
suppressions; any other source plugs in through `AttentionSource`),
receivables due today and overdue by age per currency, the scheduled sends, and the recent ones.
Each section is a few rows plus its full count, so the Slack view can say "and N more".
Plain values out; the App Home builder (handlers/blocks/home.py) is a pure function of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.authorization import PERMISSIONS, Action, ApprovalRules, OwnRequest, roles_of
from services.db.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    DocumentKind,
    Invoice,
    Payment,
    Suppression,
    money_sum,
)
from services.formatting import format_money
from services.invoicing.aging import BUCKETS, OWED_STATUSES, age_bucket
from services.invoicing.balance import balance_of, crediting_note_filter
from services.sending.transitions import WAITING
from services.tracking.status import DeliverySummary, list_problem_deliveries, list_recent_deliveries

SCHEDULED = sorted(s.value for s in WAITING - {DeliveryStatus.AWAITING_APPROVAL})
NOT_SENT = sorted(
    {*SCHEDULED, DeliveryStatus.AWAITING_APPROVAL.value, DeliveryStatus.REJECTED.value, DeliveryStatus.CANCELLED.value}
)
RECENT = 5
PROBLEMS_COUNTED = 50  # "50+ emails need a person": counting further says nothing more
T = TypeVar("T")


@dataclass(frozen=True)
class Rows(Generic[T]):
    """A section: the first rows and how many there are in all."""

    shown: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.shown))


@dataclass(frozen=True)
class SuppressedLine:
    email: str
    reason: str
    since: datetime


@dataclass(frozen=True)
class AttentionLine:
    """One extra "needs attention" line from another source (e.g. a silent email)."""

    delivery_id: int | None
    text: str


@dataclass(frozen=True)
class CurrencyAging:
    """Outstanding amounts of one currency by age bucket (formatted, in `aging.BUCKETS` order)."""

    currency: str
    buckets: tuple[str, ...]
    counts: tuple[int, ...]
    total: str


@dataclass(frozen=True, kw_only=True)
class DashboardQuery:
    organisation_id: int
    user_id: str
    rules: ApprovalRules
    today: date
    locale: str
    rows: int = 5  # rows shown per section


# Another helper's rows for *Needs attention*: called with the session and the query.
AttentionSource = Callable[[AsyncSession, DashboardQuery], Awaitable[Rows[AttentionLine]]]


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    may_approve: bool
    waiting_for_me: Rows[DeliverySummary]
    problems: Rows[DeliverySummary]
    suppressed: Rows[SuppressedLine]
    other_attention: tuple[Rows[AttentionLine], ...]
    aging: tuple[CurrencyAging, ...]
    overdue_count: int
    scheduled: Rows[DeliverySummary]
    recent: Rows[DeliverySummary]


@dataclass(frozen=True)
class DashboardSources:
    """Sources of *Needs attention* beyond the open problems and suppressions (none yet)."""

    attention: Sequence[AttentionSource] = field(default=())


def _invoice_sends(organisation_id: int) -> Select[int]:
    return select(func.count()).where(
        Delivery.organisation_id == organisation_id, Delivery.kind == DeliveryKind.INVOICE.value
    )


def may_approve_others(rules: ApprovalRules, user: str) -> tuple[bool, bool]:
    """(whether `user` approves at all, whether their own requests are left out: four eyes)."""
    permission = PERMISSIONS[Action.APPROVE]
    approves = bool(permission.roles & roles_of(rules, user))
    return approves, permission.own_request == OwnRequest.FORBIDS


def _waiting_condition(query: DashboardQuery) -> ColumnElement[bool] | None:
    """The sends waiting for this person's approval; None when they approve nothing."""
    approves, not_own = may_approve_others(query.rules, query.user_id)
    if not approves:
        return None
    waiting = Delivery.status == DeliveryStatus.AWAITING_APPROVAL.value
    return and_(waiting, Delivery.requested_by != query.user_id) if not_own else waiting


def _active_suppressions(query: DashboardQuery) -> ColumnElement[bool]:
    return and_(Suppression.organisation_id == query.organisation_id, Suppression.active.is_(True))


@dataclass(frozen=True)
class _Counts:
    waiting: int
    scheduled: int
    suppressed: int


async def _counts(session: AsyncSession, query: DashboardQuery, waiting: ColumnElement[bool] | None) -> _Counts:
    """The sections' full counts in one statement (one round trip, each count on its own index)."""
    sends = _invoice_sends(query.organisation_id)
    waiting_count = sends.where(waiting) if waiting is not None else select(literal(0))
    row = (
        await session.execute(
            select(
                waiting_count.scalar_subquery(),
                sends.where(Delivery.status.in_(SCHEDULED)).scalar_subquery(),
                select(func.count()).select_from(Suppression).where(_active_suppressions(query)).scalar_subquery(),
            )
        )
    ).one()
    return _Counts(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


async def _listed(
    session: AsyncSession, query: DashboardQuery, where: ColumnElement[bool]
) -> tuple[DeliverySummary, ...]:
    listed = await list_recent_deliveries(
        session, organisation_id=query.organisation_id, limit=query.rows, where=where, oldest_first=True
    )
    return tuple(listed)


async def _problems(session: AsyncSession, query: DashboardQuery) -> Rows[DeliverySummary]:
    # The open-problem rule is status's (a later send or a settled invoice closes it); counted up to a cap.
    listed = await list_problem_deliveries(session, organisation_id=query.organisation_id, limit=PROBLEMS_COUNTED)
    return Rows(tuple(listed[: query.rows]), len(listed))


async def _suppressed(session: AsyncSession, query: DashboardQuery, total: int) -> Rows[SuppressedLine]:
    rows = await session.execute(
        select(Suppression.email, Suppression.reason, Suppression.created_at)
        .where(_active_suppressions(query))
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .limit(query.rows)
    )
    return Rows(tuple(SuppressedLine(email, reason, at) for email, reason, at in rows), total)


async def _aging(session: AsyncSession, query: DashboardQuery) -> tuple[tuple[CurrencyAging, ...], int]:
    """Owed invoices (services.invoicing.aging: its statuses and buckets) due today or before,
    their outstanding amounts by age and currency.

    Summed per due date and currency in SQL (the covering index ix_invoices_owed, read in its
    order), then put in their age buckets here: a few hundred groups, not one row per invoice."""
    owed = and_(
        Invoice.organisation_id == query.organisation_id,
        Invoice.status.in_(OWED_STATUSES),
        Invoice.due_date <= query.today,
        Invoice.kind == DocumentKind.INVOICE,  # a credit note is owed to the customer, not by them
    )
    by_day = (Invoice.due_date, Invoice.currency)
    totals = await session.execute(
        select(*by_day, money_sum(Invoice.total), func.count()).where(owed).group_by(*by_day)
    )
    paid_rows = await session.execute(
        select(*by_day, money_sum(Payment.amount))
        .join(Payment, Payment.invoice_id == Invoice.id)
        .where(owed)
        .group_by(*by_day)
    )
    paid = {(due, currency): Decimal(amount or 0) for due, currency, amount in paid_rows}
    note = aliased(Invoice)
    credited_rows = await session.execute(  # from the few credit notes (ix_invoices_corrects), not every invoice
        select(*by_day, money_sum(note.total))
        .select_from(note)
        .join(Invoice, Invoice.id == note.corrects_invoice_id)
        .where(note.corrects_invoice_id.is_not(None), owed, crediting_note_filter(note))
        .group_by(*by_day)
    )
    credited = {(due, currency): Decimal(amount or 0) for due, currency, amount in credited_rows}
    by_currency: dict[str, list[tuple[Decimal, int]]] = {}
    count = 0
    for due, currency, total, number in totals:
        slots = by_currency.setdefault(currency, [(Decimal(0), 0)] * len(BUCKETS))
        index = BUCKETS.index(age_bucket((query.today - due).days))
        outstanding = balance_of(
            Decimal(total or 0), paid.get((due, currency)), credited.get((due, currency))
        ).outstanding
        slots[index] = (slots[index][0] + outstanding, slots[index][1] + int(number))
        count += int(number)
    aging = tuple(
        CurrencyAging(
            currency=currency,
            buckets=tuple(format_money(amount, currency, query.locale) for amount, _ in slots),
            counts=tuple(number for _, number in slots),
            total=format_money(sum((amount for amount, _ in slots), Decimal(0)), currency, query.locale),
        )
        for currency, slots in sorted(by_currency.items())
    )
    return aging, count


async def _recent(session: AsyncSession, query: DashboardQuery) -> Rows[DeliverySummary]:
    condition = Delivery.status.not_in(NOT_SENT)
    shown = await list_recent_deliveries(
        session, organisation_id=query.organisation_id, limit=min(query.rows, RECENT), where=condition
    )
    return Rows(tuple(shown), len(shown))


async def load_dashboard(
    session: AsyncSession, query: DashboardQuery, sources: DashboardSources = DashboardSources()
) -> Dashboard:
    """Everything one person's App Home shows, read now."""
    waiting = _waiting_condition(query)
    counts = await _counts(session, query, waiting)
    aging, overdue_count = await _aging(session, query)
    waiting_rows = await _listed(session, query, waiting) if waiting is not None else ()
    return Dashboard(
        may_approve=waiting is not None,
        waiting_for_me=Rows(waiting_rows, counts.waiting),
        problems=await _problems(session, query),
        suppressed=await _suppressed(session, query, counts.suppressed),
        other_attention=tuple([await source(session, query) for source in sources.attention]),
        aging=aging,
        overdue_count=overdue_count,
        scheduled=Rows(await _listed(session, query, Delivery.status.in_(SCHEDULED)), counts.scheduled),
        recent=await _recent(session, query),
    )
