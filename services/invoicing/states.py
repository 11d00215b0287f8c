"""An invoice's state as a person sees it: one function of the invoice and its latest email.

The invoice's own status (`draft → validated → sent → paid`, or `void`) says what the
books say; the latest invoice delivery says what happened to the email. A person needs
both at once: "sent" is only true when the email was accepted (or the invoice was sent by
other means), and a bounce or an email that *may* have gone out must not look ready to
send. `invoice_state` is the one place that combines them; `/invoices due`, `/invoices
show`, App Home and the alerts all read it (README, "Invoice states").

"Latest" is the newest invoice delivery (previews left out) that could have sent
something: a send that was cancelled or refused approval sent nothing, so it does not
hide the email before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryKind, DeliveryStatus, Invoice, InvoiceStatus, SentVia
from services.tracking.precedence import TERMINAL_BAD, reason_in_words


class InvoiceState(StrEnum):
    DRAFT = "draft"
    READY = "ready"  # validated, no email yet: ready to send unless a readiness problem says otherwise
    SENDING = "sending"  # waiting for approval, queued, being sent, or retrying
    SENT = "sent"  # the latest email was accepted, delivered or opened
    NOT_RECEIVED = "not_received"  # bounced, dropped, marked as spam or refused
    MAY_HAVE_ARRIVED = "may_have_arrived"  # `unknown`: the connection broke after the data was handed over
    SENT_MANUALLY = "sent_manually"
    PAID = "paid"
    VOID = "void"


SENT_OK = frozenset({DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED})
IN_FLIGHT = frozenset(
    {DeliveryStatus.AWAITING_APPROVAL, DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED}
)
NOT_RECEIVED = frozenset(DeliveryStatus(status) for status in TERMINAL_BAD)
# A send that sent nothing: it never hides the email before it.
NOTHING_SENT = (DeliveryStatus.CANCELLED.value, DeliveryStatus.REJECTED.value)
MAY_HAVE_ARRIVED_WORDS = "may have arrived — check with the customer before sending again"


@dataclass(frozen=True)
class LatestDelivery:
    """The fields of an invoice's latest email that its state needs."""

    id: int
    invoice_id: int
    status: str
    to: tuple[str, ...]
    recipient_results: Mapping[str, Any]
    last_error: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class InvoiceStateView:
    state: InvoiceState
    label: str  # "❌ Not received", "❓ May have arrived", … (README, "Invoice states")
    detail: str  # the why in words: "bounced to ap@x.example: the mailbox does not exist"; may be ""
    delivery_id: int | None = None  # the latest email, when the state comes from it

    @property
    def line(self) -> str:
        """The state in one line: "❌ Not received: bounced to …", "❓ May have arrived — check …"."""
        if self.state == InvoiceState.MAY_HAVE_ARRIVED:
            return f"❓ {self.detail[0].upper()}{self.detail[1:]}"
        return f"{self.label}: {self.detail}" if self.detail else self.label


_LABELS = {
    InvoiceState.DRAFT: "📝 Draft",
    InvoiceState.READY: "✅ Ready to send",
    InvoiceState.SENDING: "📤 Sending",
    InvoiceState.SENT: "✅ Sent",
    InvoiceState.NOT_RECEIVED: "❌ Not received",
    InvoiceState.MAY_HAVE_ARRIVED: "❓ May have arrived",
    InvoiceState.SENT_MANUALLY: "✅ Sent manually",
    InvoiceState.PAID: "💰 Paid",
    InvoiceState.VOID: "🚫 Void",
}
_SENDING_WORDS = {
    DeliveryStatus.AWAITING_APPROVAL: "waiting for approval",
    DeliveryStatus.QUEUED: "queued",
    DeliveryStatus.SENDING: "being sent now",
    DeliveryStatus.DEFERRED: "the mail server asked to try again later; retrying",
}
_BAD_VERBS = {"bounced": "bounced", "dropped": "dropped", "complained": "marked as spam", "failed": "refused"}


def not_received_words(latest: LatestDelivery) -> str:
    """ "bounced to ap@x.example: the mailbox does not exist" — one clause per failed recipient."""
    clauses = []
    for address, result in latest.recipient_results.items():
        state = str(result.get("status") or "") if isinstance(result, dict) else ""
        if state in TERMINAL_BAD and address != "*":
            reply = str(result.get("reply") or "")
            clauses.append(f"{_BAD_VERBS[state]} to {address}: {reason_in_words(state, reply)}")
    if not clauses:
        verb = _BAD_VERBS.get(latest.status, latest.status)
        clauses.append(f"{verb} to {', '.join(latest.to)}: {reason_in_words(latest.status, latest.last_error)}")
    return "; ".join(clauses)


def _view(state: InvoiceState, detail: str = "", delivery: LatestDelivery | None = None) -> InvoiceStateView:
    return InvoiceStateView(state, _LABELS[state], detail, delivery.id if delivery else None)


def invoice_state(*, status: str, sent_via: str | None, latest: LatestDelivery | None) -> InvoiceStateView:
    """What the invoice is, as a person sees it (the one rule; the README's "Invoice states")."""
    if status == InvoiceStatus.PAID:
        return _view(InvoiceState.PAID)
    if status == InvoiceStatus.VOID:
        return _view(InvoiceState.VOID)
    if status == InvoiceStatus.DRAFT:
        return _view(InvoiceState.DRAFT, "validate it before sending")
    if status == InvoiceStatus.SENT and sent_via == SentVia.MANUAL:
        return _view(InvoiceState.SENT_MANUALLY, "sent by other means; no email is followed")
    if latest is None:
        return _view(InvoiceState.SENT if status == InvoiceStatus.SENT else InvoiceState.READY)
    delivery_status = DeliveryStatus(latest.status)
    if delivery_status in IN_FLIGHT:
        return _view(InvoiceState.SENDING, _SENDING_WORDS[delivery_status], latest)
    if delivery_status in NOT_RECEIVED:
        return _view(InvoiceState.NOT_RECEIVED, not_received_words(latest), latest)
    if delivery_status == DeliveryStatus.UNKNOWN:
        return _view(InvoiceState.MAY_HAVE_ARRIVED, MAY_HAVE_ARRIVED_WORDS, latest)
    if delivery_status in SENT_OK:
        words = {"accepted": "accepted by the mail server", "delivered": "delivered", "opened": "opened"}
        return _view(InvoiceState.SENT, f"{words[latest.status]} ({', '.join(latest.to)})", latest)
    return _view(InvoiceState.SENT if status == InvoiceStatus.SENT else InvoiceState.READY)


_LATEST_IDS = (
    select(func.max(Delivery.id))
    .where(
        Delivery.invoice_id.in_(bindparam("invoice_ids", expanding=True)),
        Delivery.kind == DeliveryKind.INVOICE.value,
        Delivery.status.not_in(NOTHING_SENT),
    )
    .group_by(Delivery.invoice_id)
)
_LATEST = select(
    Delivery.id,
    Delivery.invoice_id,
    Delivery.status,
    Delivery.to.label("to_addresses"),
    Delivery.recipient_results,
    Delivery.last_error,
    Delivery.requested_by,
    Delivery.created_at,
    Delivery.updated_at,
).where(Delivery.id.in_(_LATEST_IDS.scalar_subquery()))


def read_latest_deliveries(connection: Connection, invoice_ids: list[int]) -> dict[int, LatestDelivery]:
    """invoice id → its latest email, for the invoices that have one (one indexed query)."""
    if not invoice_ids:
        return {}
    rows = connection.execute(_LATEST, {"invoice_ids": sorted(set(invoice_ids))})
    return {
        row.invoice_id: LatestDelivery(
            id=row.id,
            invoice_id=row.invoice_id,
            status=row.status,
            to=tuple(row.to_addresses or ()),
            recipient_results=dict(row.recipient_results or {}),
            last_error=row.last_error,
            requested_by=row.requested_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    }


async def latest_deliveries(session: AsyncSession, invoice_ids: list[int]) -> dict[int, LatestDelivery]:
    if not invoice_ids:
        return {}
    await session.flush()
    return await session.run_sync(lambda sync: read_latest_deliveries(sync.connection(), invoice_ids))


async def state_of_invoice(session: AsyncSession, *, invoice: Invoice) -> InvoiceStateView:
    """`invoice_state` of one invoice, reading its latest email."""
    latest = (await latest_deliveries(session, [invoice.id])).get(invoice.id)
    return invoice_state(status=invoice.status, sent_via=invoice.sent_via, latest=latest)
