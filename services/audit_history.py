"""The audit log read back: an invoice's history in plain words, and the log exported.

The log is written as machine actions (`invoice.validated`, `delivery.rejected`, …) so that
it stays stable; people read it through `history_of_invoice` (`/invoices history`, the
*History* button) and auditors take it out with `export_audit` (`invoicebot audit export`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog, Delivery

ExportFormat = Literal["csv", "json"]

_WORDS = {
    "invoice.draft": "put the invoice back to draft",
    "invoice.validated": "validated the invoice",
    "invoice.sent": "marked the invoice sent",
    "invoice.paid": "marked the invoice paid",
    "invoice.void": "voided the invoice",
    "invoice.recipients_changed": "edited the recipients",
    "invoice.not_received": "reported the email was not received",
    "invoice_link_revoked": "revoked the invoice's link",
    "delivery.requested": "requested the email",
    "delivery.approved": "approved the email",
    "delivery.rejected": "rejected the email",
    "delivery.cancelled": "cancelled the email",
    "delivery.accepted": "sent the email (the mail server accepted it)",
    "delivery.delivered": "saw the email delivered",
    "delivery.opened": "saw the email opened",
    "delivery.bounced": "saw the email bounce",
    "delivery.dropped": "saw the email dropped by the provider",
    "delivery.complained": "saw the recipient mark the email as spam",
    "delivery.deferred": "saw the mail server defer the email",
    "delivery.failed": "could not send the email",
    "delivery.unknown": "lost track of whether the email was sent",
    "delivery.queued": "queued the email again (fixed)",
}


@dataclass(frozen=True)
class HistoryLine:
    """One thing that happened to an invoice: who (`actor` as stored), what (in words), when."""

    at: datetime
    actor: str
    what: str


def _what(entry: AuditLog) -> str:
    words = _WORDS.get(entry.action, entry.action.replace("_", " ").replace(".", ": "))
    detail = entry.detail or {}
    for key, label in (("reason", "reason"), ("after", "now"), ("detail", "")):
        value = detail.get(key)
        if value and isinstance(value, str | list):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            return f"{words} ({label}: {shown[:200]})" if label else f"{words} ({shown[:200]})"
    return words


async def history_of_invoice(session: AsyncSession, *, organisation_id: int, invoice_id: int) -> list[HistoryLine]:
    """Everything done to the invoice and to its emails, oldest first (newest last)."""
    deliveries = select(Delivery.id).where(Delivery.invoice_id == invoice_id)
    entries = await session.scalars(
        select(AuditLog)
        .where(
            AuditLog.organisation_id == organisation_id,
            or_(
                and_(AuditLog.subject_type == "invoice", AuditLog.subject_id == invoice_id),
                and_(AuditLog.subject_type == "delivery", AuditLog.subject_id.in_(deliveries)),
            ),
        )
        .order_by(AuditLog.created_at, AuditLog.id)
    )
    return [HistoryLine(at=entry.created_at, actor=entry.actor, what=_what(entry)) for entry in entries]


EXPORT_COLUMNS = (
    "id", "created_at", "actor", "action", "subject_type", "subject_id", "detail", "chain_index", "entry_hash",
)  # fmt: skip


def _row(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "detail": entry.detail,
        "chain_index": entry.chain_index,
        "entry_hash": entry.entry_hash,
    }


def render_export(entries: Sequence[AuditLog], *, fmt: ExportFormat) -> str:
    """CSV (detail as JSON text in its column) or a JSON array, one object per entry."""
    rows = [_row(entry) for entry in entries]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row | {"detail": json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)})
    return out.getvalue()


async def audit_entries_since(session: AsyncSession, *, organisation_id: int, since: datetime) -> list[AuditLog]:
    """The organisation's entries written at or after `since`, in the order they were written."""
    rows = await session.scalars(
        select(AuditLog)
        .where(AuditLog.organisation_id == organisation_id, AuditLog.created_at >= since)
        .order_by(AuditLog.id)
    )
    return list(rows)
