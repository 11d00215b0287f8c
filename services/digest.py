"""The daily digest and weekly summary: what the team reads in its channel each morning.

`evaluate_digests(units, now)` is the schedule's one evaluation, run by the worker's digest loop
every minute and by `invoicebot digest run --as-of`: for each organisation whose digest is on,
the owed slot (services.digest_schedule: its hour in the organisation's time zone, caught up
once after an outage) is claimed once per day (services.once_per_period) in the same
transaction as the Slack post it owes (a notification row, drained by the notifier). So N
workers evaluating the same minute post one digest, and a crash before the commit loses
nothing: the next evaluation claims the day again.

The figures reuse the existing rules: what is owed by age (invoicing.aging, on the one balance
rule), the due listing's count (sending.due), the problems list (tracking.status) — the
digest counts nothing its own way but the week's figures (collected, sent, bounce rate, days
to pay), which only it reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    OrganisationSettingsRow,
    Payment,
)
from services.digest_schedule import DIGEST_KIND, WEEK, DigestSchedule, DigestSlot, owed_slot
from services.formatting import format_money, reader_locale
from services.invoicing.aging import AgeBucket, receivables
from services.invoicing.schedule_settings import zone_named
from services.invoicing.states import IN_FLIGHT, NOTHING_SENT
from services.notifications import NotificationKind
from services.once_per_period import PERIOD_TAKEN, PeriodKey, claim_period, last_claimed
from services.sending.due import count_due_invoices
from services.tracking.status import MAX_LIST, list_problem_deliveries
from services.unit_of_work import OwedPost, UnitOfWork, UnitsOfWork

PROBLEMS_SHOWN = 5


@dataclass(frozen=True)
class DigestPosted:
    """One digest owed to Slack by this evaluation."""

    organisation_id: int
    period: str
    late: bool
    weekly: bool


@dataclass(frozen=True)
class _Org:
    id: int
    schedule: DigestSchedule
    locale: str


def _amounts(amounts: dict[str, Decimal], locale: str) -> list[str]:
    return [format_money(amount, currency, locale) for currency, amount in sorted(amounts.items()) if amount]


def _summed(rows: Iterable[tuple[str, Decimal]]) -> tuple[int, dict[str, Decimal]]:
    count, amounts = 0, defaultdict[str, Decimal](Decimal)
    for currency, amount in rows:
        count += 1
        amounts[currency] += amount
    return count, dict(amounts)


async def _sent_between(
    session: AsyncSession, org: _Org, start: datetime, end: datetime
) -> tuple[int, dict[str, Decimal]]:
    rows = await session.execute(
        select(Invoice.currency, Invoice.total).where(
            Invoice.organisation_id == org.id, Invoice.sent_at >= start, Invoice.sent_at < end
        )
    )
    return _summed((currency, total) for currency, total in rows)


async def _paid_between(
    session: AsyncSession, org: _Org, start: datetime, end: datetime
) -> tuple[int, dict[str, Decimal]]:
    rows = await session.execute(
        select(Invoice.currency, Payment.amount)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Payment.organisation_id == org.id, Payment.recorded_at >= start, Payment.recorded_at < end)
    )
    return _summed((currency, amount) for currency, amount in rows)


async def _weekly(session: AsyncSession, org: _Org, end: datetime) -> dict[str, Any]:
    """The week before `end`: collected, invoices sent, bounce rate of the emails handed over, days to pay."""
    start = end - WEEK
    _payments, collected = await _paid_between(session, org, start, end)
    sent, _amounts_sent = await _sent_between(session, org, start, end)
    statuses = dict(
        (
            await session.execute(
                select(Delivery.status, func.count())
                .where(
                    Delivery.organisation_id == org.id,
                    Delivery.kind == DeliveryKind.INVOICE.value,
                    Delivery.created_at >= start,
                    Delivery.created_at < end,
                    Delivery.status.not_in([*NOTHING_SENT, *(status.value for status in IN_FLIGHT)]),
                )
                .group_by(Delivery.status)
            )
        ).all()
    )
    handed_over = sum(statuses.values())
    bounced = statuses.get(DeliveryStatus.BOUNCED, 0)
    paid = await session.execute(
        select(Invoice.issue_date, Invoice.paid_at).where(
            Invoice.organisation_id == org.id,
            Invoice.status == InvoiceStatus.PAID.value,
            Invoice.paid_at >= start,
            Invoice.paid_at < end,
        )
    )
    days = [(paid_at.astimezone(org.schedule.zone).date() - issued).days for issued, paid_at in paid if paid_at]
    return {
        "from": start.isoformat(),
        "collected": _amounts(collected, org.locale),
        "sent": sent,
        "handed_over": handed_over,
        "bounced": bounced,
        "bounce_rate": f"{100 * bounced / handed_over:.1f}" if handed_over else None,
        "average_days_to_pay": f"{sum(days) / len(days):.1f}" if days else None,
        "paid_invoices": len(days),
    }


def _bucket(bucket: AgeBucket, locale: str) -> dict[str, Any]:
    return {"count": bucket.count, "amounts": _amounts(bucket.amounts, locale)}


async def digest_figures(session: AsyncSession, org: _Org, slot: DigestSlot, now: datetime) -> dict[str, Any]:
    """The digest's content as JSON-ready plain values (the notification's payload)."""
    today = now.astimezone(org.schedule.zone).date()
    owed = await receivables(session, organisation_id=org.id, today=today)
    problems = await list_problem_deliveries(session, organisation_id=org.id, limit=MAX_LIST)
    sent_count, sent_amounts = await _sent_between(session, org, slot.since, now)
    paid_count, paid_amounts = await _paid_between(session, org, slot.since, now)
    return {
        "day": slot.period,
        "as_of": now.astimezone(org.schedule.zone).isoformat(timespec="minutes"),
        "since": slot.since.isoformat(timespec="minutes"),
        "due_at": slot.due_at.strftime("%H:%M"),
        "time_zone": org.schedule.zone.key,
        "late": slot.late,
        "missed_days": slot.missed_days,
        "due_today": _bucket(owed.due_today, org.locale),
        "to_send": await count_due_invoices(session, organisation_id=org.id, today=today),
        "aging": [{"bucket": name, **_bucket(bucket, org.locale)} for name, bucket in owed.buckets.items()],
        "owed": _amounts(owed.totals(), org.locale),
        "problems": {
            "count": len(problems),
            "more": len(problems) >= MAX_LIST,
            "items": [
                {
                    "number": p.invoice_number,
                    "customer": p.customer_name,
                    "status": p.status,
                    "to": list(p.to),
                    "reminder": p.reminder,
                }
                for p in problems[:PROBLEMS_SHOWN]
            ],
        },
        "sent": {"count": sent_count, "amounts": _amounts(sent_amounts, org.locale)},
        "paid": {"count": paid_count, "amounts": _amounts(paid_amounts, org.locale)},
        "weekly": await _weekly(session, org, now) if slot.weekly else None,
    }


async def _organisations(session: AsyncSession) -> list[_Org]:
    """The organisations whose digest is on (and whose Slack install is not gone)."""
    rows = await session.execute(
        select(
            Organisation.id,
            Organisation.default_language,
            Organisation.country,
            OrganisationSettingsRow.time_zone,
            OrganisationSettingsRow.digest_hour,
            OrganisationSettingsRow.weekly_summary_day,
        )
        .join(OrganisationSettingsRow, OrganisationSettingsRow.organisation_id == Organisation.id)
        .where(OrganisationSettingsRow.digest_hour.is_not(None), Organisation.sending_paused.is_(None))
        .order_by(Organisation.id)
    )
    return [
        _Org(
            id=org_id,
            schedule=DigestSchedule(zone=zone_named(zone), hour=hour or 0, weekly_day=weekly or 0),
            locale=reader_locale(language, country),
        )
        for org_id, language, country, zone, hour, weekly in rows
    ]


async def _evaluate_one(unit: UnitOfWork, org: _Org, now: datetime) -> DigestPosted | None:
    session = unit.session
    slot = owed_slot(
        org.schedule, now, last_period=await last_claimed(session, organisation_id=org.id, kind=DIGEST_KIND)
    )
    if slot is None or not await claim_period(session, PeriodKey(org.id, DIGEST_KIND, slot.period), now=now):
        return None
    payload = await digest_figures(session, org, slot, now)
    unit.owe_post(OwedPost(organisation_id=org.id, delivery_id=None, kind=NotificationKind.DIGEST, payload=payload))
    return DigestPosted(organisation_id=org.id, period=slot.period, late=slot.late, weekly=slot.weekly)


async def evaluate_digests(units: UnitsOfWork, *, now: datetime) -> list[DigestPosted]:
    """Owe each organisation's digest that is due at `now` and not yet claimed; each in its own transaction."""
    async with units() as unit:
        organisations = await _organisations(unit.session)
    posted: list[DigestPosted] = []
    for org in organisations:
        try:
            async with units() as unit:
                done = await _evaluate_one(unit, org, now)
        except PERIOD_TAKEN:  # another process claimed this day at the same moment: its post goes out
            continue
        if done is not None:
            posted.append(done)
    return posted
