"""The silent-email alert: an email the server accepted and nothing was heard of after N hours.

An invoice email that is `accepted` (no delivery confirmation, no view, no bounce: any of those
moves it on) for longer than its organisation's hours for the delivery's route is posted as a
delivery alert in its status message's thread, with what is known (accepted when, by which
relay and route, to whom) and the bounce alert's buttons (handlers/blocks/status.py).

The route is how the email left: through a provider with webhooks, which confirms delivery
(default 24 h), or through our own SMTP relay, which may never hear back (default 72 h). A
delivery does not record it: the installation sends every email through one relay, so the
route is the installation's (`SilentCheck.route`, decided in bot/bootstrap.py: a configured
provider webhook means the relay is that provider). 0 hours turns the alert off.

Exactly once per delivery, with any number of evaluators on PostgreSQL: the alert's row is
enqueued in the transaction of `UPDATE deliveries SET silent_alerted_at … WHERE
silent_alerted_at IS NULL AND status = 'accepted'`; the second evaluator's UPDATE waits for
the first's row lock, then matches no row and owes nothing. A process that dies before the
commit leaves neither, and the next round owes both. Later news (delivered, viewed, bounced)
moves the delivery on as usual: the alert is then resolved ("the email was delivered") and
rewritten in place by the notifier, and a bounce posts its own alert; never a second silent one.

An email silent for more than `LOOKBACK` past its hours is history, not news: it is left
alone, so a first start does not alert about every old email.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    OrganisationSettingsRow,
)
from services.notifications import NotificationKind, NotificationRequest, enqueue_notification

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]

LOOKBACK = timedelta(days=7)
BATCH = 100
SILENT = "silent"  # the alert's `type` in its payload


class Route(StrEnum):
    """How the installation's emails leave."""

    PROVIDER = "provider"  # a provider with webhooks: it confirms delivery
    SMTP = "smtp"  # our own SMTP relay: may never hear back

    def words(self, relay: str | None) -> str:
        where = f" {relay}" if relay else ""
        return f"provider{where} (webhooks)" if self is Route.PROVIDER else f"own SMTP relay{where}"


@dataclass(frozen=True, kw_only=True)
class SilentCheck:
    """One evaluation: the moment it is for, the installation's route and relay, how many at most."""

    as_of: datetime
    route: Route
    relay: str | None = None  # the SMTP host, shown in the alert
    limit: int = BATCH


@dataclass(frozen=True)
class SilentAlert:
    delivery_id: int
    organisation_id: int


def hours_for(row: OrganisationSettingsRow, route: Route) -> int:
    """The organisation's hours for the route (0: off)."""
    return int(row.silent_after_provider_hours if route is Route.PROVIDER else row.silent_after_smtp_hours)


def _payload(delivery: Delivery, check: SilentCheck, hours: int) -> dict[str, Any]:
    accepted_at = delivery.finished_at
    assert accepted_at is not None  # chosen by it
    return {
        "type": SILENT,
        "delivery_id": delivery.id,
        "recipient": ", ".join([*delivery.to, *delivery.cc]),
        "reason": f"accepted by the mail server, then no delivery confirmation, view or bounce in {hours} h",
        "accepted_at": accepted_at.isoformat(),
        "route": check.route.value,
        "route_words": check.route.words(check.relay),
        "hours": hours,
        "diagnostic": (delivery.smtp_reply or "")[:2000],
    }


async def _thresholds(session: AsyncSession, route: Route) -> dict[int, int]:
    rows = (await session.execute(select(OrganisationSettingsRow))).scalars()
    return {row.organisation_id: hours for row in rows if (hours := hours_for(row, route)) > 0}


async def _candidates(session: AsyncSession, check: SilentCheck) -> list[tuple[int, int, int]]:
    """(organisation, delivery, hours) of the accepted invoice emails silent past their hours, oldest first."""
    found: list[tuple[int, int, int]] = []
    for organisation_id, hours in sorted((await _thresholds(session, check.route)).items()):
        cutoff = check.as_of - timedelta(hours=hours)
        ids = await session.execute(
            select(Delivery.id)
            .where(
                Delivery.organisation_id == organisation_id,
                Delivery.status == DeliveryStatus.ACCEPTED,
                Delivery.kind == DeliveryKind.INVOICE,
                Delivery.silent_alerted_at.is_(None),
                Delivery.finished_at <= cutoff,
                Delivery.finished_at > cutoff - LOOKBACK,
            )
            .order_by(Delivery.id)
            .limit(check.limit - len(found))
        )
        found += [(organisation_id, delivery_id, hours) for delivery_id in ids.scalars()]
        if len(found) >= check.limit:
            break
    return found


async def _owe_one(session: AsyncSession, delivery_id: int, hours: int, check: SilentCheck) -> bool:
    """Mark the delivery alerted and owe its alert, in the caller's transaction; False if another did first."""
    marked = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.silent_alerted_at.is_(None),
            Delivery.status == DeliveryStatus.ACCEPTED,
        )
        .values(silent_alerted_at=check.as_of)
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        return False
    delivery = (
        await session.execute(
            select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    request = NotificationRequest(
        delivery.organisation_id,
        delivery.id,
        NotificationKind.DELIVERY_ALERT,
        delivery.slack_channel,
        _payload(delivery, check, hours),
    )
    await enqueue_notification(session, request)  # due now, whatever moment was evaluated
    return True


async def owe_silent_alerts(sessions: SessionOpener, check: SilentCheck) -> list[SilentAlert]:
    """Owe the alert of each email silent past its hours at `check.as_of` (at most `check.limit`).

    Each delivery in a transaction of its own (committed here): its mark and its alert's row together.
    Returns the alerts this call owed (another evaluator's are not in it)."""
    async with sessions() as session:
        candidates = await _candidates(session, check)
    owed: list[SilentAlert] = []
    for organisation_id, delivery_id, hours in candidates:
        async with sessions() as session:
            if await _owe_one(session, delivery_id, hours, check):
                owed.append(SilentAlert(delivery_id, organisation_id))
            await session.commit()
    return owed
