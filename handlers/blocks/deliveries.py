"""Blocks for `/invoices sent` and `/invoices problems`: one line per email, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.blocks.elements import MAX_BLOCKS, Block, clip, escape, who
from services.formatting import format_moment
from services.tracking.status import DeliverySummary

STATUS_WORDS = {
    "awaiting_approval": "⏳ waiting for approval",
    "queued": "⏳ queued",
    "sending": "📤 sending",
    "deferred": "🔁 deferred, will retry",
    "accepted": "📨 accepted by the mail server",
    "delivered": "✅ delivered",
    "opened": "👀 opened",
    "bounced": "❌ bounced",
    "dropped": "❌ dropped by the provider",
    "complained": "🚫 marked as spam",
    "failed": "❌ failed",
    "rejected": "✋ approval refused",
    "unknown": "❓ unknown: may or may not have gone out",
    "cancelled": "cancelled",
}
SILENT_WORDS = "🔕 accepted, then no news: check it arrived"


def summary_status(item: DeliverySummary) -> str:
    """A send's status in a few words: the listings' and App Home's one wording."""
    if item.silent:
        return SILENT_WORDS
    return STATUS_WORDS.get(item.status, item.status.replace("_", " "))


def summary_head(item: DeliverySummary, *, customer_chars: int = 200) -> str:
    """`*INV-1* · Acme Corp · €120.00`, or `Reminder for *INV-1* · Acme Corp`: a reminder is named by
    its first invoice and carries no one invoice's amount, and must not read as the invoice's own email."""
    customer = escape(clip(item.customer_name, customer_chars))
    if item.reminder:
        return f"Reminder for *{escape(item.invoice_number)}* · {customer}"
    return f"*{escape(item.invoice_number)}* · {customer} · {item.amount}"


def delivery_line(item: DeliverySummary) -> str:
    to = escape(", ".join(item.to)) or "nobody"
    when = format_moment(item.updated_at, item.locale)
    by = f" · asked by {who(item.requested_by)}" if item.requested_by else ""
    text = f"{summary_head(item)}\nTo {to} · {summary_status(item)} · {when}{by}"
    if item.detail:
        text += f"\n> {escape(item.detail[:300])}"
    return text


def deliveries_blocks(items: Sequence[DeliverySummary], *, title: str, empty: str) -> list[Block]:
    if not items:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": empty}}]
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}]
    for item in items[: MAX_BLOCKS - 1]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": delivery_line(item)}})
    return blocks


def unmatched_events_block(count: int) -> Block:
    """Bounces and provider events that could not be tied to any email we sent (kept, not lost)."""
    what = "message" if count == 1 else "messages"
    return {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"📭 {count} bounce or provider {what} could not be matched to an invoice email "
                "(unreadable, or for an email we did not send); they are kept for review.",
            }
        ],
    }
