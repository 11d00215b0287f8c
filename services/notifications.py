"""Slack posts still owed, kept as rows so a Slack outage delays them and loses nothing.

A notification is written in the same transaction as the state change it reports
(`enqueue_notification`); a loop in `bot/` drains them: `lease_due_notifications`, post
or update the Slack message, then `record_posted` or `record_retry`. Those four own their
commits (the loop never commits): each step is durable before the next Slack call.

Claiming leases a row for `lease_seconds` (its `next_attempt_at` moves forward and its
attempt is counted), so a second drainer, or the same one after a crash, leaves it alone
until the lease ends; a drainer that dies mid-post is retried later, never lost, and a
row that keeps failing is given up after `max_attempts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, String, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.db.models import Approval, Delivery, Notification, NotificationStatus, utcnow
from services.errors import NotFound

DEFAULT_LEASE_SECONDS = 60
DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 15 * 60


class NotificationKind(StrEnum):
    # The one status message of a delivery: posted once, then updated in place
    # (its channel/ts are kept on the delivery row).
    DELIVERY_STATUS = "delivery_status"
    # "Please approve": posted in the approvers' channel; its ts is kept on the approval.
    APPROVAL_REQUEST = "approval_request"
    # Rewrites the approval request message once someone decided (or the send was cancelled).
    APPROVAL_DECIDED = "approval_decided"
    # A bounce, drop, complaint or failure that needs a person.
    DELIVERY_ALERT = "delivery_alert"
    # Rewrites an invoice's posted alerts whose problem is over: their buttons give way to who
    # resolved it and how (services.tracking.alert_resolution).
    ALERTS_RESOLVED = "alerts_resolved"
    # A reply in the status message's thread telling the requester who stopped the send (rejected
    # with the reason, or cancelled); posted once the status message is in Slack.
    DELIVERY_NOTE = "delivery_note"
    # The organisation's daily digest (and weekly summary), in the notify channel; names no send.
    DIGEST = "digest"
    # What an autosend round asked for (and what it left for a person), in the notify channel.
    AUTOSEND = "autosend"
    # What the send window lets out at its next opening, with *Review* / *Skip today* (services/reminders/preview.py).
    WINDOW_PREVIEW = "window_preview"
    # Rewrites that preview once a person stopped some of it (*Skip today*, *Review*): who, and what still goes.
    WINDOW_PREVIEW_STOPPED = "window_preview_stopped"
    # What the reminder scheduler caught up after an outage (and skipped as too late), or a reminder
    # it could not send (no address, suppressed), in the notify channel; each told once.
    REMINDERS = "reminders"


@dataclass(frozen=True)
class NotificationRequest:
    """One post owed, for `enqueue_notifications` or `enqueue_notification`."""

    organisation_id: int
    delivery_id: int | None
    kind: NotificationKind | str
    channel: str | None
    payload: dict[str, Any]


async def enqueue_notification(
    session: AsyncSession, request: NotificationRequest, *, now: datetime | None = None
) -> Notification:
    """Owe Slack a post. Call inside the transaction of the change it reports; the caller commits.

    `request.channel` None means "the organisation's notify channel" (the drainer knows it).
    A status message that is still waiting and was never tried absorbs the new request
    (its payload is replaced), so a burst of state changes costs one Slack call. A row
    already tried is left alone: the drainer may be posting it right now.
    """
    kind = NotificationKind(request.kind)
    delivery_id, channel, payload = request.delivery_id, request.channel, request.payload
    now = now or utcnow()
    if kind == NotificationKind.DELIVERY_STATUS and delivery_id is not None:
        waiting = (
            await session.execute(
                select(Notification)
                .where(
                    Notification.delivery_id == delivery_id,
                    Notification.kind == kind.value,
                    Notification.status == NotificationStatus.PENDING,
                    Notification.attempts == 0,
                )
                .order_by(Notification.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if waiting is not None:
            waiting.payload = dict(payload)
            if channel is not None:
                waiting.channel = channel
            await session.flush()
            return waiting
    notification = Notification(
        organisation_id=request.organisation_id,
        delivery_id=delivery_id,
        kind=kind.value,
        channel=channel,
        payload=dict(payload),
        status=NotificationStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(notification)
    await session.flush()
    return notification


_NOTIFICATIONS = Notification.__table__
# A waiting status message absorbs a request: its payload replaced, its channel only when one is given.
_ABSORB = (
    _NOTIFICATIONS.update()
    .where(_NOTIFICATIONS.c.id == bindparam("b_id"))
    .values(
        payload=bindparam("b_payload"),
        channel=func.coalesce(bindparam("b_channel", type_=String), _NOTIFICATIONS.c.channel),
    )
)


def enqueue_notifications(
    connection: Connection, *, requests: Sequence[NotificationRequest], now: datetime | None = None
) -> None:
    """`enqueue_notification` for many posts in a few statements (the send worker's group commit).

    Same rules: a delivery's waiting, never-tried status message absorbs a new status
    request; everything else is a new row. Requests apply in order. The caller commits.
    """
    if not requests:
        return
    now = now or utcnow()
    status_ids = {
        r.delivery_id
        for r in requests
        if r.delivery_id is not None and NotificationKind(r.kind) == NotificationKind.DELIVERY_STATUS
    }
    waiting: dict[int | None, int] = {}  # keys are never None (status requests name a delivery)
    if status_ids:
        rows = connection.execute(
            select(Notification.delivery_id, Notification.id)
            .where(
                Notification.delivery_id.in_(status_ids),
                Notification.kind == NotificationKind.DELIVERY_STATUS.value,
                Notification.status == NotificationStatus.PENDING,
                Notification.attempts == 0,
            )
            .order_by(Notification.id.desc())
        )
        waiting = {delivery_id: notification_id for delivery_id, notification_id in rows}  # lowest id wins
    absorbed: dict[int, dict[str, Any]] = {}
    new_rows: list[dict[str, Any]] = []
    for request in requests:
        kind = NotificationKind(request.kind)
        status_update = kind == NotificationKind.DELIVERY_STATUS and request.delivery_id is not None
        if status_update and request.delivery_id in waiting:
            change = absorbed.setdefault(waiting[request.delivery_id], {})
            change["payload"] = dict(request.payload)
            if request.channel is not None:
                change["channel"] = request.channel
            continue
        new_rows.append(
            {
                "organisation_id": request.organisation_id,
                "delivery_id": request.delivery_id,
                "kind": kind.value,
                "channel": request.channel,
                "payload": dict(request.payload),
                "status": NotificationStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
        if status_update:
            # later status requests of this delivery in the batch fold into this new row
            waiting[request.delivery_id] = -len(new_rows)
    _write(connection, absorbed=absorbed, new_rows=new_rows)


def _write(connection: Connection, *, absorbed: dict[int, dict[str, Any]], new_rows: list[dict[str, Any]]) -> None:
    """The waiting rows' changes in one executemany (a negative id is a row of this batch), then the new rows."""
    waiting_changes = []
    for notification_id, change in absorbed.items():
        if notification_id < 0:
            new_rows[-notification_id - 1].update(change)
        else:
            waiting_changes.append(
                {"b_id": notification_id, "b_payload": change["payload"], "b_channel": change.get("channel")}
            )
    if waiting_changes:
        connection.execute(_ABSORB, waiting_changes)
    if new_rows:
        connection.execute(insert(Notification.__table__), new_rows)


async def claim_due_notifications(
    session: AsyncSession, *, now: datetime, limit: int, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> list[Notification]:
    """Lease up to `limit` due notifications, oldest first. The caller commits, then posts.

    On PostgreSQL the rows are locked with FOR UPDATE SKIP LOCKED, so concurrent drainers
    take different rows. Status messages of one delivery go out in order: one is not
    handed out while an older one of the same delivery is still owed, so the message is
    posted once and later versions update it instead of posting a second message.
    """
    if limit < 1:
        return []
    older = aliased(Notification)
    older_status_owed = exists().where(
        older.delivery_id == Notification.delivery_id,
        older.kind == NotificationKind.DELIVERY_STATUS.value,
        older.status == NotificationStatus.PENDING,
        older.id < Notification.id,
    )
    query = (
        select(Notification)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
            ~and_(Notification.kind == NotificationKind.DELIVERY_STATUS.value, older_status_owed),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Notification)
    claimed = list((await session.execute(query)).scalars())
    lease_end = now + timedelta(seconds=lease_seconds)
    for notification in claimed:
        notification.attempts += 1
        notification.next_attempt_at = lease_end
    await session.flush()
    return claimed


async def _get(session: AsyncSession, notification_id: int) -> Notification:
    notification = await session.get(Notification, notification_id)
    if notification is None:
        raise NotFound(f"There is no notification {notification_id}.")
    return notification


async def mark_posted(
    session: AsyncSession, *, notification_id: int, ts: str, now: datetime, channel: str | None = None
) -> Notification:
    """Record that Slack accepted the post. The caller commits.

    `channel` is the channel id Slack answered with. The first post of a status message
    or of an approval request is remembered on the delivery / approval, so later changes
    update that message in place.
    """
    notification = await _get(session, notification_id)
    notification.status = NotificationStatus.POSTED
    notification.posted_ts = ts
    notification.last_error = None
    channel = channel or notification.channel
    if notification.delivery_id is not None and notification.kind == NotificationKind.DELIVERY_STATUS:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == notification.delivery_id, Delivery.slack_ts.is_(None))
            .values(slack_channel=channel, slack_ts=ts)
        )
    elif notification.delivery_id is not None and notification.kind == NotificationKind.APPROVAL_REQUEST:
        await session.execute(
            update(Approval)
            .where(Approval.delivery_id == notification.delivery_id, Approval.slack_ts.is_(None))
            .values(slack_channel=channel, slack_ts=ts)
        )
    await session.flush()
    return notification


def retry_delay_seconds(*, attempts: int, retry_after_seconds: float | None) -> float:
    """Exponential backoff (5 s, 10 s, 20 s … capped at 15 min); Slack's Retry-After wins if longer."""
    backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return max(float(backoff), float(retry_after_seconds or 0))


async def mark_retry(
    session: AsyncSession,
    *,
    notification_id: int,
    error: str,
    retry_after_seconds: float | None,
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Notification:
    """Record a failed post: try again later, or give up (status failed) after `max_attempts`.

    `retry_after_seconds` is Slack's Retry-After on a 429, or None. The caller commits.
    """
    notification = await _get(session, notification_id)
    notification.last_error = error[:2000]
    if notification.attempts >= max_attempts:
        notification.status = NotificationStatus.FAILED
    else:
        delay = retry_delay_seconds(attempts=notification.attempts, retry_after_seconds=retry_after_seconds)
        notification.next_attempt_at = now + timedelta(seconds=delay)
    await session.flush()
    return notification


# The drainer's steps, each committed here: the loop in bot/ calls them and never commits.

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def lease_due_notifications(sessions: SessionOpener, *, now: datetime, limit: int) -> list[int]:
    """`claim_due_notifications` in a transaction of its own, committed before anything is posted:
    the ids of the rows leased (a second drainer leaves them alone until their lease ends)."""
    async with sessions() as session:
        ids = [notification.id for notification in await claim_due_notifications(session, now=now, limit=limit)]
        await session.commit()
    return ids


async def record_posted(
    session: AsyncSession, *, notification_id: int, ts: str, now: datetime, channel: str | None = None
) -> None:
    """`mark_posted`, committed at once: from here on this message is updated, never posted again."""
    await mark_posted(session, notification_id=notification_id, ts=ts, now=now, channel=channel)
    await session.commit()


async def save_recorded(session: AsyncSession) -> None:
    """Commit what a renderer recorded so far (an alert marked resolved) before its next Slack call,
    so a crash after that call does not redo what Slack already shows."""
    await session.commit()


async def record_retry(
    session: AsyncSession,
    *,
    notification_id: int,
    error: str,
    retry_after_seconds: float | None,
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> None:
    """A failed post: drop what it had recorded but not saved, then `mark_retry`, committed."""
    await session.rollback()
    await mark_retry(
        session,
        notification_id=notification_id,
        error=error,
        retry_after_seconds=retry_after_seconds,
        now=now,
        max_attempts=max_attempts,
    )
    await session.commit()
