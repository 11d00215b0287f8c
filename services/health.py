"""Counts an operator watches (the `/metrics` endpoint shows them): queue depth and problems.

Read from the database, so every process of a scaled-out installation reports the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, Notification, NotificationStatus, Suppression


@dataclass(frozen=True)
class HealthCounts:
    deliveries_by_status: dict[str, int]
    unmatched_events_by_type: dict[str, int]  # bounces / provider events tied to no delivery
    notifications_by_status: dict[str, int]
    active_suppressions: int


async def _counts(session: AsyncSession, query: Select[str, int]) -> dict[str, int]:
    return {str(key): int(count) for key, count in (await session.execute(query)).all()}


async def health_counts(session: AsyncSession) -> HealthCounts:
    deliveries = await _counts(session, select(Delivery.status, func.count()).group_by(Delivery.status))
    unmatched = await _counts(
        session,
        select(DeliveryEvent.type, func.count())
        .where(DeliveryEvent.delivery_id.is_(None))
        .group_by(DeliveryEvent.type),
    )
    notifications = await _counts(
        session,
        select(Notification.status, func.count())
        .where(Notification.status != NotificationStatus.POSTED)
        .group_by(Notification.status),
    )
    suppressions = await session.scalar(
        select(func.count()).select_from(Suppression).where(Suppression.active.is_(True))
    )
    return HealthCounts(deliveries, unmatched, notifications, int(suppressions or 0))
