"""A send's status as the Slack builders get it (services.tracking.status.DeliveryStatusView), for block tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.tracking.status import DeliveryStatusView

CREATED = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)


def a_send(**changes: object) -> DeliveryStatusView:
    values: dict[str, object] = {
        "delivery_id": 42,
        "kind": "invoice",
        "invoice_number": "INV-0001",
        "customer_name": "Acme Corp",
        "amount": "€120.00",
        "total": Decimal("120.00"),
        "currency": "EUR",
        "to": ("ap@acme.example",),
        "cc": (),
        "bcc": (),
        "subject": "Invoice INV-0001",
        "status": "queued",
        "smtp_reply": None,
        "last_error": None,
        "requested_by": "U0ALICE",
        "approved_by": None,
        "approval_decision": None,
        "rejected_reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": CREATED,
        "finished_at": None,
        "timeline": (),
        "slack_channel": None,
        "slack_ts": None,
    }
    return DeliveryStatusView(**(values | changes))  # type: ignore[arg-type]
