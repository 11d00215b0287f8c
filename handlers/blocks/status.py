"""The channel's view of a send: its one status message, and the alert when it went wrong.

Pure functions of `DeliveryStatusView` (and an alert's payload), so what the channel reads
is tested without Slack. The status line is written for a finance person: what happened,
to whom, and the mail server's own words when they matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from handlers.blocks.elements import (
    Block,
    clip,
    context_block,
    escape,
    plain_text,
    record_payment_button,
    section,
    who,
)
from handlers.ids import ActionId, BlockId
from services.formatting import format_clock
from services.tracking.alert_resolution import Resolution
from services.tracking.precedence import HELD_PREFIX, reason_in_words
from services.tracking.status import DeliveryStatusView, TimelineEntry

TIMELINE_SHOWN = 6
DIAGNOSTIC_LIMIT = 500
PROBLEM_TYPES = frozenset({"bounced", "dropped", "complained", "failed"})


def _detail_text(entry: TimelineEntry) -> str:
    detail = entry.detail or {}
    return str(detail.get("diagnostic") or detail.get("reply") or detail.get("reason") or "")


def _problems(view: DeliveryStatusView) -> list[TimelineEntry]:
    """The latest problem event of each recipient, oldest first."""
    latest: dict[str, TimelineEntry] = {}
    for entry in view.timeline:
        if entry.type in PROBLEM_TYPES and entry.recipient:
            latest[entry.recipient] = entry
    return list(latest.values())


def _problem_lines(view: DeliveryStatusView, label: str) -> str:
    problems = _problems(view)
    if not problems:
        reply = view.last_error or ""
        who = ", ".join(view.to)
        return f"{label}: {escape(who)} — {reason_in_words(view.status, reply)}" + (
            f" ({escape(clip(reply, 300))})" if reply else ""
        )
    lines = []
    for entry in problems:
        raw = _detail_text(entry)
        reason = str((entry.detail or {}).get("reason") or reason_in_words(entry.type, raw))
        lines.append(
            f"{label}: {escape(entry.recipient or '')} — {escape(reason)}"
            + (f" ({escape(clip(raw, 300))})" if raw else "")
        )
    return "\n".join(lines)


_FIXED_LINES = {
    "awaiting_approval": "⏳ Waiting for approval",
    "queued": "⏳ Queued",
    "sending": "📤 Sending…",
    "unknown": "❓ Unknown — the connection broke after the email was handed over; check before resending",
    "cancelled": "🚫 Cancelled — nothing was sent",
}


def status_line(view: DeliveryStatusView) -> str:
    """One or a few lines saying where the email is, in words a finance person reads."""
    status = view.status
    if status in _FIXED_LINES:
        return _FIXED_LINES[status]
    if status in PROBLEM_TYPES:
        return _problem_lines(view, _ALERT_TITLES[status])
    if status == "deferred":
        return f"🔁 Retrying (attempt {view.attempts + 1}): {escape(clip(view.last_error or 'temporary problem', 300))}"
    if status in ("accepted", "delivered", "opened"):
        return _sent_line(view)
    if status == "rejected":
        by = f" by {who(view.approval_decided_by)}" if view.approval_decided_by else ""
        why = f": {escape(view.rejected_reason)}" if view.rejected_reason else ""
        return f"✋ Approval refused{by}{why} — nothing was sent"
    return escape(status)


def _sent_line(view: DeliveryStatusView) -> str:
    """Accepted, delivered or opened, with any recipient's later problem below."""
    to, reply = escape(", ".join(view.to)), escape(clip(view.smtp_reply or "", 300))
    line = f"✅ Sent to {to} — accepted by the mail server" + (f": {reply}" if reply else "")
    if view.status == "delivered":
        line = f"✅ Delivered to {to}" + (f" (accepted: {reply})" if reply else "")
    elif view.status == "opened":
        line = f"👀 Opened (may be unreliable) · sent to {to}"
    if _problems(view):
        line += "\n" + _problem_lines(view, "❌ Not delivered")
    return line


def delivery_summary(view: DeliveryStatusView) -> str:
    """A delivery in a few lines for `/invoices show`: who, where it is, and its timeline."""
    what = {"preview": "Preview", "reminder": "Reminder email"}.get(view.kind, "Email")
    return f"*{what} to {escape(', '.join(view.to)) or 'nobody'}*\n{status_line(view)}\n{_timeline_text(view)}"


def _timeline_text(view: DeliveryStatusView) -> str:
    shown = view.timeline[-TIMELINE_SHOWN:]
    parts = [f"{format_clock(view.created_at, view.locale)} requested"]
    for entry in shown:
        who = f" {entry.recipient}" if entry.recipient else ""
        parts.append(f"{format_clock(entry.at, view.locale)} {entry.type}{escape(who)}")
    return " → ".join(parts) + " (UTC)"


def reminder_words(view: DeliveryStatusView) -> str:
    """ "Reminder to Acme for INV-1, INV-2": a reminder's email names its customer and every invoice it lists."""
    numbers = ", ".join(view.reminder_numbers) or view.invoice_number
    return f"Reminder to {escape(view.customer_name)} for {escape(numbers)}"


def status_message(view: DeliveryStatusView) -> tuple[str, list[Block]]:
    """The one message of a send in the notification channel, rewritten as it moves."""
    line = status_line(view)
    what = "Preview of invoice" if view.kind == "preview" else "Invoice"
    heading = f"*{what} {escape(view.invoice_number)}* · {escape(view.customer_name)} · {view.amount}"
    if view.kind == "reminder":
        heading = f"*{reminder_words(view)}*"
    recipients = f"To: {escape(', '.join(view.to)) or 'nobody'}"
    if view.cc:
        recipients += f" · Cc: {escape(', '.join(view.cc))}"
    people = f"Requested by {who(view.requested_by)}"
    if view.approved_by and view.status != "rejected":
        people += f" · approved by {who(view.approved_by)}"
    blocks: list[Block] = [
        section(f"{heading}\n{recipients}"),
        section(line),
        context_block(people),
        context_block(_timeline_text(view)),
    ]
    if view.status == "unknown" and view.last_error:
        blocks.insert(2, context_block(f"```{escape(clip(view.last_error, DIAGNOSTIC_LIMIT))}```"))
    if view.status == "cancelled" and view.last_error:  # the worker's reason: a reminder nothing is owed on
        blocks.insert(2, context_block(escape(clip(view.last_error, DIAGNOSTIC_LIMIT))))
    if view.status in CANCELLABLE_SHOWN and view.kind != "preview":
        blocks.append(cancel_button_block(view))
    if view.kind == "invoice" and view.status in ("accepted", "delivered", "opened"):
        blocks.append(record_payment_button(view.invoice_number))  # it went out: the next step is being paid
    # The fallback text is parsed by Slack like the blocks (and notifies from it): escaped the same way.
    text = f"{what} {escape(view.invoice_number)} to {escape(', '.join(view.to))}: {line}"
    if view.kind == "reminder":
        text = f"{reminder_words(view)} — {line}"
    return clip(text, 3000), blocks


def delivery_note_text(view: DeliveryStatusView, payload: Mapping[str, Any]) -> str:
    """The thread reply when someone stops a send: who, and the reason a rejection gives."""
    by, number = who(str(payload.get("by") or "someone")), escape(view.invoice_number)
    if payload.get("note") == "rejected":
        reason = escape(clip(str(payload.get("reason") or ""), 500))
        return f"✋ {by} rejected the send of *{number}*" + (f": {reason}" if reason else "") + ". No email was sent."
    return f"🚫 {by} cancelled the send of *{number}*. No email was sent."


CANCELLABLE_SHOWN = ("awaiting_approval", "queued")  # *Cancel* is offered until the worker takes the send


def cancel_button_block(view: DeliveryStatusView) -> Block:
    """*Cancel* (value = the send's id; who may cancel is the service's call), with Slack's confirmation."""
    confirm = {
        "title": {"type": "plain_text", "text": "Cancel this send?"},
        "text": {"type": "mrkdwn", "text": f"No email of *{escape(view.invoice_number)}* goes out."},
        "confirm": {"type": "plain_text", "text": "Cancel the send"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    }
    button = {
        "type": "button",
        "action_id": ActionId.CANCEL_DELIVERY,
        "text": {"type": "plain_text", "text": "Cancel"},
        "value": str(view.delivery_id),
        "confirm": confirm,
    }
    return {"type": "actions", "block_id": f"{BlockId.DELIVERY_CANCEL}:{view.delivery_id}", "elements": [button]}


_ALERT_TITLES = {
    "bounced": "❌ Bounced",
    "dropped": "❌ Dropped",
    "complained": "🚫 Marked as spam",
    "failed": "❌ Failed",
    "unknown": "❓ Unknown",
    "silent": "🔕 No news",  # accepted, then silent past the organisation's hours (services/tracking/silent.py)
}


def alert_buttons(view: DeliveryStatusView, kind: str) -> Block:
    """*Fix address & resend*, *Mark as sent manually*, *Open invoice*: ids only in their values.

    A silent email was accepted, so its invoice is sent already: *Mark as sent manually* could
    only answer so, and is left out of its alert."""
    delivery = str(view.delivery_id)
    fix = {
        "type": "button",
        "action_id": ActionId.FIX_ADDRESS_AND_RESEND,
        "text": plain_text("Fix address & resend"),
        "style": "primary",
        "value": delivery,
    }
    mark_sent = {
        "type": "button",
        "action_id": ActionId.MARK_SENT_MANUALLY,
        "text": plain_text("Mark as sent manually"),
        "value": delivery,
    }
    open_invoice = {
        "type": "button",
        "action_id": ActionId.OPEN_INVOICE,
        "text": plain_text("Open invoice"),
        "value": view.invoice_number,
    }
    elements = [fix, open_invoice] if kind == "silent" else [fix, mark_sent, open_invoice]
    if view.kind == "reminder":  # resending or marking sent would act on the invoice, not on the reminder
        elements = [open_invoice]
    return {"type": "actions", "block_id": f"{BlockId.DELIVERY_ALERT}:{delivery}", "elements": elements}


def resolution_words(resolution: Resolution) -> str:
    """ "✅ Resolved by <@U1>: resent to ap@new.example, accepted" """
    by = f" by {who(resolution.by)}" if resolution.by else ""
    return f"✅ Resolved{by}: {escape(resolution.how)}"


def delivery_alert_message(
    view: DeliveryStatusView, payload: Mapping[str, Any], resolution: Resolution | None = None
) -> tuple[str, list[Block]]:
    """A reply in the status message's thread: what went wrong for whom, and the way out.

    `payload` is what the notification carries: `type` (bounced, dropped, complained,
    failed, unknown), `recipient`, `reason` (plain words, may be absent) and `diagnostic`
    (the raw server or provider text). With a `resolution`, the alert says who resolved it
    and how instead of offering its buttons (the message is rewritten in place).
    """
    kind = str(payload.get("type") or view.status)
    recipient = str(payload.get("recipient") or ", ".join(view.to))
    diagnostic = str(payload.get("diagnostic") or "")
    reason = str(payload.get("reason") or reason_in_words(kind, diagnostic))
    title = _ALERT_TITLES.get(kind, "⚠️ Problem")
    if kind == "unknown":
        headline = f"{title} — {escape(reason)}"
    else:
        headline = f"{title}: {escape(recipient)} — {escape(reason)}"
    about = f"Invoice *{escape(view.invoice_number)}* · {escape(view.customer_name)} · {view.amount}"
    if view.kind == "reminder":
        about = f"*{reminder_words(view)}*"
    blocks: list[Block] = [section(f"{headline}\n{about}")]
    if payload.get("accepted_at"):
        blocks.append(context_block(_accepted_words(payload)))
    if diagnostic:
        said = "Why" if diagnostic.startswith(HELD_PREFIX) else "Server said"
        blocks.append(context_block(f"{said}: ```{escape(clip(diagnostic, DIAGNOSTIC_LIMIT))}```"))
    if resolution is not None:  # the problem is over: who ended it and how, in place of the buttons
        blocks.append(section(resolution_words(resolution)))
        text = f"{headline} ({_subject_words(view)}) — {resolution_words(resolution)}"
        return clip(text, 3000), blocks
    blocks.append(alert_buttons(view, kind))
    text = f"{headline} ({_subject_words(view)})"
    return clip(text, 3000), blocks


def _subject_words(view: DeliveryStatusView) -> str:
    if view.kind == "reminder":
        return reminder_words(view).replace("Reminder", "reminder", 1)
    return f"invoice {escape(view.invoice_number)}"


def _accepted_words(payload: Mapping[str, Any]) -> str:
    """ "Accepted 2026-12-01 09:00 UTC by own SMTP relay smtp.example.com · To: ap@acme.example" """
    try:
        at = datetime.fromisoformat(str(payload["accepted_at"])).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        at = str(payload["accepted_at"])
    route = str(payload.get("route_words") or "the mail server")
    return f"Accepted {escape(at)} by {escape(route)} · To: {escape(str(payload.get('recipient') or ''))}"
