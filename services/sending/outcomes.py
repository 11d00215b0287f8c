"""Record many SMTP outcomes in one transaction: the send worker's group commit.

Each outcome still moves its delivery, its invoice, its events, its audit entry and its
Slack notifications together — they are simply committed alongside the outcomes of the
other deliveries that finished in the same few milliseconds, in a handful of statements
instead of a dozen ORM round trips each. A delivery is only touched while it is `sending`
and claimed by this worker (row locked on PostgreSQL), so an outcome can never land on a
row that stale recovery or another worker took over.

Each move is checked against services.sending.transitions (`system_moved`, which also says
what it owes: audit entry, status message, alerts), and the UPDATE of each target status
takes its `WHERE status IN (…)` from the table (`comes_from`, literal values: one UPDATE runs for many rows).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Update, bindparam, insert, select

from services.db.models import (
    Delivery,
    DeliveryEvent,
    DeliveryKind,
    DeliveryStatus,
)
from services.documents.validation import UblVerdict
from services.email.stored_form import PackedMessage
from services.invoicing.emailed import emails_accepted
from services.invoicing.states import NOT_RECEIVED
from services.notifications import NotificationRequest, enqueue_notifications
from services.sending.sent_messages import SentItem, store_sent_messages
from services.sending.transitions import Alert, SystemMove, comes_from, system_moved
from services.tracking.follow import unsend_after_send_failures
from services.tracking.precedence import delivery_status_from
from services.unit_of_work import AuditEntry, insert_owed_audits


@dataclass(frozen=True)
class Outcome:
    """What the SMTP conversation ended with, in plain terms (see services.email.transport)."""

    kind: str  # accepted | transient | permanent | ambiguous | cancelled (a reminder with nothing left to ask)
    detail: str
    accepted: tuple[str, ...] = ()
    refused: dict[str, str] | None = None
    deferred: dict[str, str] | None = None
    # (digest, verdict) of a UBL the worker had to check inline before this send: stored with
    # the outcome, in the same round, so a retry of the same document is not checked again.
    ubl_verdict: tuple[str, UblVerdict] | None = None
    # the message as handed to the server (accepted, or ambiguous after DATA): kept with the outcome
    sent: PackedMessage | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: base·2^(attempt-1), capped, then give up."""

    max_attempts: int = 8
    base_seconds: float = 60.0
    max_seconds: float = 3600.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


_DELIVERY = Delivery.__table__


@functools.cache
def _set_outcome(target: str) -> Update:
    """The UPDATE that moves a delivery to `target`, built once per target (the worker runs it in bulk)."""
    return (
        _DELIVERY.update()
        .where(_DELIVERY.c.id == bindparam("b_id"), comes_from(_DELIVERY.c.status, target))
        .values(
            status=target,
            claimed_at=None,
            smtp_reply=bindparam("b_smtp_reply"),
            finished_at=bindparam("b_finished_at"),
            last_error=bindparam("b_last_error"),
            next_attempt_at=bindparam("b_next_attempt_at"),
            recipient_results=bindparam("b_results"),
            updated_at=bindparam("b_now"),
        )
    )


_READ_DELIVERIES = select(
    _DELIVERY.c.id,
    _DELIVERY.c.organisation_id,
    _DELIVERY.c.invoice_id,
    _DELIVERY.c.kind,
    _DELIVERY.c.status,
    _DELIVERY.c.claimed_by,
    _DELIVERY.c.attempts,
    _DELIVERY.c.smtp_reply,
    _DELIVERY.c.last_error,
    _DELIVERY.c.finished_at,
    _DELIVERY.c.next_attempt_at,
    _DELIVERY.c.recipient_results,
    _DELIVERY.c.slack_channel,
    _DELIVERY.c.approved_by,
    _DELIVERY.c.requested_by,
).where(_DELIVERY.c.id.in_(bindparam("b_ids", expanding=True)))
# PostgreSQL: lock them, in id order (two rounds never lock the same rows in opposite orders)
_LOCK_DELIVERIES = _READ_DELIVERIES.order_by(_DELIVERY.c.id).with_for_update()


def record_outcomes(
    connection: Connection,
    *,
    outcomes: Sequence[tuple[int, Outcome]],
    worker_id: str,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random | None = None,
) -> dict[int, str | None]:
    """Store (delivery id, outcome) pairs; the caller commits. Returns id → new status.

    The status is None for a delivery that is no longer this worker's (recovered as stale
    meanwhile): nothing is written for it.
    """
    ids = sorted({delivery_id for delivery_id, _ in outcomes})
    query = _LOCK_DELIVERIES if connection.dialect.name == "postgresql" else _READ_DELIVERIES
    rows = {row.id: row for row in connection.execute(query, {"b_ids": ids})}
    result: dict[int, str | None] = {}
    updates: dict[str, list[dict[str, Any]]] = {}  # by target status: one UPDATE each
    events: list[dict[str, Any]] = []
    audits: list[AuditEntry] = []
    sent: list[tuple[int, str]] = []  # (invoice, who sent it): invoicing marks them sent
    posts: list[NotificationRequest] = []
    failures: list[tuple[int, int, str]] = []  # (invoice, delivery, why): the invoice follows its email
    kept: list[SentItem] = []  # the messages handed to the server, stored in this same transaction
    for delivery_id, outcome in outcomes:
        row = rows.get(delivery_id)
        if row is None or row.status != DeliveryStatus.SENDING or row.claimed_by != worker_id:
            result[delivery_id] = None
            continue
        change = _decide(row, outcome, now=now, retry=retry, rng=rng)
        status = change.pop("b_status")
        owed = system_moved(
            SystemMove(
                organisation_id=row.organisation_id, delivery_id=row.id, before=row.status, after=status,
                invoice=row.kind != DeliveryKind.PREVIEW, status_channel=row.slack_channel,
                alerts=_alerts(outcome, status, change["b_last_error"]), actor=f"worker:{worker_id}",
                detail={"detail": outcome.detail[:500]},
            )
        )  # fmt: skip
        result[delivery_id] = status
        if outcome.sent is not None and outcome.kind in ("accepted", "ambiguous"):
            kept.append(SentItem(row.organisation_id, row.id, outcome.sent))
        updates.setdefault(status, []).append(change)
        events.extend(_events(row, outcome, status, change, now=now))
        audits.extend(owed.audits)
        posts.extend(
            NotificationRequest(p.organisation_id, p.delivery_id, p.kind, p.channel, p.payload) for p in owed.posts
        )
        # accepted, unless an event filed while it was in flight already says it was not received
        if outcome.kind == "accepted" and row.kind == DeliveryKind.INVOICE and status not in NOT_RECEIVED:
            sent.append((row.invoice_id, row.approved_by or row.requested_by))
        if status in (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN) and row.kind == DeliveryKind.INVOICE:
            failures.append((row.invoice_id, row.id, str(change["b_last_error"] or status)[:500]))
    for target, changes in updates.items():
        connection.execute(_set_outcome(target), changes)
    emails_accepted(connection, sent=sent, now=now)
    if failures:
        unsend_after_send_failures(connection, failures=failures, now=now)
    if events:
        connection.execute(insert(DeliveryEvent.__table__), events)
    insert_owed_audits(connection, audits=audits, at=now)
    store_sent_messages(connection, items=kept, now=now)
    enqueue_notifications(connection, requests=posts, now=now)
    return result


def _decide(
    row: Any, outcome: Outcome, *, now: datetime, retry: RetryPolicy, rng: random.Random | None
) -> dict[str, Any]:
    """The delivery's new column values for this outcome (the retry/give-up rules live here)."""
    results = dict(row.recipient_results or {})
    change: dict[str, Any] = {
        "b_id": row.id,
        "b_smtp_reply": row.smtp_reply,
        "b_finished_at": row.finished_at,
        "b_last_error": row.last_error,
        "b_next_attempt_at": row.next_attempt_at,
        "b_now": now,
    }
    if outcome.kind == "accepted":
        # next_attempt_at cleared: an accepted email is never the worker's to send again,
        # whatever status the recipients' events give it.
        change.update(b_smtp_reply=outcome.detail, b_finished_at=now, b_last_error=None, b_next_attempt_at=None)
        for address in outcome.accepted:
            if "source" not in results.get(address, {}):  # else: an event filed while we were still sending
                results[address] = {"status": "accepted", "reply": outcome.detail}
        for address, reply in (outcome.refused or {}).items():
            results[address] = {"status": "failed", "reply": reply}
        for address, reply in (outcome.deferred or {}).items():
            results[address] = {"status": "deferred", "reply": reply}
        change["b_status"] = _accepted_status(results)
    elif outcome.kind == "transient" and row.attempts < retry.max_attempts:
        change.update(
            b_status=DeliveryStatus.DEFERRED.value,
            b_last_error=outcome.detail,
            b_next_attempt_at=now + timedelta(seconds=retry.delay(row.attempts, rng)),
        )
    elif outcome.kind == "cancelled":  # nothing was sent and nothing is owed: no alert, no retry
        change.update(b_status=DeliveryStatus.CANCELLED.value, b_last_error=outcome.detail, b_finished_at=now)
    elif outcome.kind == "ambiguous":
        change.update(b_status=DeliveryStatus.UNKNOWN.value, b_last_error=outcome.detail, b_finished_at=now)
    else:
        gave_up = outcome.kind == "transient"
        error = f"gave up after {row.attempts} attempts: {outcome.detail}" if gave_up else outcome.detail
        change.update(b_status=DeliveryStatus.FAILED.value, b_last_error=error, b_finished_at=now)
        for address, reply in (outcome.refused or {}).items():
            results[address] = {"status": "failed", "reply": reply}
    change["b_results"] = results
    return change


def _accepted_status(results: dict[str, Any]) -> str:
    """`accepted`, unless an event filed while the send was in flight (a bounce report that beat
    the worker's commit, a fast provider webhook) already says more: then what the precedence
    rules make of it (services.tracking.precedence), e.g. `bounced`."""
    filed = [entry.get("status") for entry in results.values() if "source" in entry]
    if not filed:
        return DeliveryStatus.ACCEPTED.value
    return delivery_status_from([*filed, DeliveryStatus.ACCEPTED.value]) or DeliveryStatus.ACCEPTED.value


def _event(row: Any, type_: str, recipient: str | None, detail: str, now: datetime) -> dict[str, Any]:
    return {
        "organisation_id": row.organisation_id,
        "delivery_id": row.id,
        "source": "smtp",
        "type": type_,
        "recipient": recipient,
        "occurred_at": now,
        "detail": {"reply": detail},
        "created_at": now,
    }


def _events(row: Any, outcome: Outcome, status: str, change: dict[str, Any], *, now: datetime) -> list[dict[str, Any]]:
    if outcome.kind == "accepted":
        return [
            *(_event(row, "accepted", address, outcome.detail, now) for address in outcome.accepted),
            *(_event(row, "failed", address, reply, now) for address, reply in (outcome.refused or {}).items()),
            *(_event(row, "deferred", address, reply, now) for address, reply in (outcome.deferred or {}).items()),
        ]
    if status == DeliveryStatus.DEFERRED:
        return [_event(row, "deferred", None, outcome.detail, now)]
    if status == DeliveryStatus.UNKNOWN:
        return [_event(row, "unknown", None, outcome.detail, now)]
    if status == DeliveryStatus.CANCELLED:
        return []  # no email, no SMTP event: the reason is its last error and its audit entry
    return [_event(row, "failed", None, change["b_last_error"], now)]


def _alerts(outcome: Outcome, status: str, last_error: str | None) -> tuple[Alert, ...]:
    """What a person must look at after this outcome (system_moved posts them for invoices and reminders)."""
    if outcome.kind == "accepted":
        # only the recipients the server refused: an event filed meanwhile had its own alert
        return tuple(Alert("failed", address, reply) for address, reply in (outcome.refused or {}).items())
    if status == DeliveryStatus.UNKNOWN:
        return (Alert("unknown", None, outcome.detail),)
    if status == DeliveryStatus.FAILED and outcome.refused:
        return tuple(Alert("failed", address, reply) for address, reply in outcome.refused.items())
    if status == DeliveryStatus.FAILED:
        return (Alert("failed", None, last_error or ""),)
    return ()
