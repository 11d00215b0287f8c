"""The machinery behind services.tracking.events: correlate, insert, apply precedence, owe Slack, suppress.

Everything is set-based so a batch of events (the bounce-mailbox loop, a webhook carrying
a hundred events) costs a handful of statements, not a handful per event: one SELECT …
FOR UPDATE of every delivery the batch names (in id order, so concurrent batches cannot
deadlock), one INSERT … ON CONFLICT DO NOTHING … RETURNING of the events, then the
changes computed in Python and flushed together. Filing one event is a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, DeliveryStatus
from services.notifications import NotificationKind, NotificationRequest, enqueue_notifications
from services.sending.checks import verp_token_is_genuine
from services.sending.transitions import check_move
from services.tracking.event_types import IncomingEvent
from services.tracking.follow import follow_invoice_emails
from services.tracking.precedence import (
    ALERT_TYPES,
    FOLLOWED_STATUSES,
    delivery_status_after,
    next_recipient_state,
    reason_in_words,
    recipient_state_for,
)
from services.tracking.suppression import AddressEvent, follow_address_events

MAX_RAW_CHARS = 256 * 1024
ANY_RECIPIENT = "*"  # the recipient key of events that name no recipient (a link page view)


def _genuine(token: str | None, secret: bytes) -> str | None:
    token = (token or "").strip().lower()
    return token if token and verp_token_is_genuine(token, secret) else None


def _message_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return (value if value.startswith("<") else f"<{value.strip('<>')}>") if value else None


async def correlate(
    session: AsyncSession, *, events: Sequence[IncomingEvent], verp_secret: bytes
) -> list[Delivery | None]:
    """Each event's delivery (row-locked): a genuine VERP token, then ENVID, then Message-ID; else None."""
    keys = [
        (_genuine(e.verp_token, verp_secret), _genuine(e.envid, verp_secret), _message_id(e.message_id)) for e in events
    ]
    tokens = {t for token, envid, _ in keys for t in (token, envid) if t}
    message_ids = {m for _, _, m in keys if m}
    if not tokens and not message_ids:
        return [None] * len(events)
    query = (
        select(Delivery)
        .where(or_(Delivery.verp_token.in_(sorted(tokens)), Delivery.message_id.in_(sorted(message_ids))))
        .order_by(Delivery.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = list((await session.execute(query)).scalars())
    by_token = {d.verp_token: d for d in found}
    by_message_id = {d.message_id: d for d in found}
    return [
        by_token.get(token or "") or by_token.get(envid or "") or by_message_id.get(message_id or "")
        for token, envid, message_id in keys
    ]


def _detail(event: IncomingEvent) -> dict[str, Any]:
    detail: dict[str, Any] = dict(event.extra)
    if event.bounce_kind:
        detail["bounce_kind"] = event.bounce_kind
    if event.status_code:
        detail["status"] = event.status_code
    if event.diagnostic:
        detail["diagnostic"] = event.diagnostic[:2000]
    if event.type in ALERT_TYPES or event.bounce_kind:
        detail["reason"] = reason_in_words(event.type, event.status_code)
    if event.source == "pixel" and event.type == "opened":
        detail["reliable"] = False  # mail clients and scanners prefetch images
    return detail


def event_row(
    event: IncomingEvent, delivery: Delivery | None, *, organisation_id: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "organisation_id": delivery.organisation_id if delivery else organisation_id,
        "delivery_id": delivery.id if delivery else None,
        "source": event.source,
        "type": event.type,
        "recipient": (event.recipient or "")[:320] or None,
        "occurred_at": event.occurred_at,
        "detail": _detail(event),
        "source_event_id": event.source_event_id,
        "raw": event.raw[:MAX_RAW_CHARS],
        "created_at": now,
    }


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert event rows; each one's new id, or None when (source, source_event_id) was already stored.

    A second copy inside the same batch is a duplicate too. Rows without a source event
    id cannot be deduplicated and are always inserted.
    """
    ids: list[int | None] = [None] * len(rows)
    # Arrival order, so ids follow the timeline. Two concurrent copies of one batch lock the
    # keys in the same order; copies in different orders could deadlock, and PostgreSQL then
    # fails one of them, which the sender retries (webhooks) or the loop reads again (DSNs).
    keyed = [row for row in rows if row["source_event_id"] is not None]
    new_by_key: dict[tuple[str, str], int] = {}
    if keyed:
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = DeliveryEvent.__table__
        statement = (
            upsert(table)
            .on_conflict_do_nothing(index_elements=["source", "source_event_id"])
            .returning(table.c.id, table.c.source, table.c.source_event_id)
        )
        # executemany: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues"), compiled once.
        new_by_key = {(source, key): new_id for new_id, source, key in await session.execute(statement, keyed)}
    for position, row in enumerate(rows):
        if row["source_event_id"] is None:
            ids[position] = (
                await session.execute(insert(DeliveryEvent).values(row).returning(DeliveryEvent.id))
            ).scalar_one()
        else:
            ids[position] = new_by_key.pop((row["source"], row["source_event_id"]), None)
    return ids


def _recipient_key(results: dict[str, Any], recipient: str | None) -> str:
    if not recipient:
        return ANY_RECIPIENT
    wanted = recipient.strip().lower()
    return next((key for key in results if key.lower() == wanted), wanted)


def followed(delivery: Delivery) -> bool:
    """Whether events may move this delivery: it was handed over (a worker's own retry was not)."""
    if delivery.status == DeliveryStatus.DEFERRED and delivery.finished_at is None:
        return False
    return DeliveryStatus(delivery.status) in FOLLOWED_STATUSES


def _post(delivery: Delivery, kind: NotificationKind, payload: dict[str, Any]) -> NotificationRequest:
    """A Slack post this batch owes about `delivery`, in its status message's channel."""
    return NotificationRequest(delivery.organisation_id, delivery.id, kind, delivery.slack_channel, payload)


@dataclass
class Filing:
    """The changes a batch of events makes, gathered in order and written by `finish`."""

    now: datetime
    status_before: dict[int, str] = field(default_factory=dict)
    changed: dict[int, Delivery] = field(default_factory=dict)
    posts: list[NotificationRequest] = field(default_factory=list)  # owed, in order
    addresses: dict[int, list[AddressEvent]] = field(default_factory=dict)

    def apply(self, delivery: Delivery, event: IncomingEvent, event_id: int) -> bool:
        """Move the recipient and the delivery by the precedence rules. True when the status changed."""
        self.status_before.setdefault(delivery.id, delivery.status)
        results = {key: dict(value) for key, value in (delivery.recipient_results or {}).items()}
        key = _recipient_key(results, event.recipient)
        before = results.get(key, {}).get("status")
        after = next_recipient_state(before, recipient_state_for(event.type, event.bounce_kind))
        if after != before:
            entry = results.get(key, {}) | {
                "status": after,
                "source": event.source,
                "at": event.occurred_at.isoformat(),
            }
            if event.diagnostic or event.status_code:
                entry["reply"] = (event.diagnostic or event.status_code or "")[:500]
            results[key] = entry
            delivery.recipient_results = results
        changed = self._move(delivery, [value.get("status") for value in results.values()])
        soft_bounce = event.type == "bounced" and event.bounce_kind == "soft"
        if event.type in ALERT_TYPES and (after != before or soft_bounce):
            payload = {
                "event_id": event_id, "delivery_id": delivery.id, "recipient": event.recipient, "type": event.type,
                "bounce_kind": event.bounce_kind, "status_code": event.status_code,
                "reason": reason_in_words(event.type, event.status_code), "diagnostic": (event.diagnostic or "")[:2000],
            }  # fmt: skip
            self.posts.append(_post(delivery, NotificationKind.DELIVERY_ALERT, payload))
        self._follow_address(delivery, event)
        return changed

    def _move(self, delivery: Delivery, states: list[str | None]) -> bool:
        if not followed(delivery):
            return False
        new_status = delivery_status_after(delivery.status, states)
        if new_status is None or new_status == delivery.status:
            return False
        check_move(delivery.status, new_status)  # the one table of a delivery's moves (services.sending.transitions)
        delivery.status = DeliveryStatus(new_status)  # one of the delivery statuses, by precedence
        delivery.updated_at = self.now
        if new_status == DeliveryStatus.DEFERRED:
            delivery.next_attempt_at = None  # the receiving side retries; never us again
        self.changed[delivery.id] = delivery
        return True

    def _follow_address(self, delivery: Delivery, event: IncomingEvent) -> None:
        if event.type == "complained":
            kind = "complaint"
        elif event.type == "bounced":
            kind = "soft_bounce" if event.bounce_kind == "soft" else "hard_bounce"
        elif event.type == "delivered":
            kind = "delivered"
        else:
            return
        if not event.recipient:
            return
        why = f"{reason_in_words(event.type, event.status_code)} ({event.source}, delivery {delivery.id})"
        address_event = AddressEvent(email=event.recipient, kind=kind, detail=why, actor=f"events:{event.source}")
        self.addresses.setdefault(delivery.organisation_id, []).append(address_event)

    async def finish(self, session: AsyncSession) -> None:
        """Write what the batch gathered: the invoices that follow their email (a bounce makes a
        sent invoice owed again), alerts and status messages owed, suppressions. The caller commits."""
        moved = {i: d for i, d in self.changed.items() if d.status != self.status_before[i]}
        if moved:
            await follow_invoice_emails(session, moved=moved, status_before=self.status_before, now=self.now)
        # one status message per moved delivery; a waiting, never-tried one absorbs it
        posts = [
            *self.posts,
            *(
                _post(d, NotificationKind.DELIVERY_STATUS, {"delivery_id": i, "status": d.status})
                for i, d in moved.items()
            ),
        ]
        if posts:  # the group path of enqueue_notification: a few statements for the whole batch
            await session.run_sync(lambda sync: enqueue_notifications(sync.connection(), requests=posts, now=self.now))
        for organisation_id, events in self.addresses.items():
            await follow_address_events(session, organisation_id=organisation_id, events=events, now=self.now)
        await session.flush()
