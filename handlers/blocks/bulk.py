"""The bulk send's confirmation and result modals: pure functions of plain data.

One section per invoice keeps each invoice's recipients readable; past `MAX_LISTED`
the rest is summed up ("and 12 more"), so the modal stays under Slack's 100 blocks and
its metadata (the invoice numbers only) under 3,000 characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from handlers.blocks.elements import Block, escape, section
from handlers.blocks.review import View, message_view
from handlers.ids import BlockId, CallbackId
from services.errors import InvalidInput
from services.safe_json import UntrustedJsonError, load_untrusted_json
from services.sending.bulk import MAX_BULK_INVOICES

MAX_LISTED = 40
MAX_METADATA = 2900


@dataclass(frozen=True)
class BulkItem:
    number: str
    customer_name: str
    amount: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class BulkResultLine:
    number: str
    outcome: str  # "queued", "waiting for approval", "already asked for", or the reasons it was skipped
    sent: bool


def encode_numbers(numbers: list[str]) -> str:
    return json.dumps(numbers, separators=(",", ":"))


def decode_numbers(raw: str | None) -> list[str]:
    try:
        numbers = load_untrusted_json(raw or "")
    except UntrustedJsonError:  # forged: too deep, too large or not JSON — the same sentence
        numbers = None
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise InvalidInput("This confirmation is from an older version of invoicebot; press Send all ready again.")
    return numbers


def fitting(items: list[BulkItem]) -> list[BulkItem]:
    """The first MAX_BULK_INVOICES items, fewer if the modal's metadata cannot name them all."""
    kept: list[BulkItem] = []
    for item in items[:MAX_BULK_INVOICES]:
        if len(encode_numbers([i.number for i in [*kept, item]])) > MAX_METADATA:
            break
        kept.append(item)
    return kept


def bulk_confirmation_view(items: list[BulkItem], *, more: bool = False) -> View:
    """ "Send these N invoices?": each invoice with its amount and recipients, then *Send N*.

    One confirmation carries at most MAX_BULK_INVOICES invoices, fewer if its metadata
    cannot name them all (oldest first); `more` says the caller already left some out.
    Either way the person is told the rest wait for the next *Send all ready*.
    """
    wanted = len(items)
    items = fitting(items)
    left = wanted - len(items)
    count = f"{len(items)} invoice" + ("" if len(items) == 1 else "s")
    blocks: list[Block] = [section(f"Send *{count}*, one email each, to these recipients?"), {"type": "divider"}]
    for item in items[:MAX_LISTED]:
        to = escape(", ".join(item.recipients)) or "nobody"
        blocks.append(section(f"*{escape(item.number)}* · {escape(item.customer_name)} · {item.amount}\nTo {to}"))
    if len(items) > MAX_LISTED:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {len(items) - MAX_LISTED} more"}]}
        )
    if left or more:
        rest = f"{left}{'+' if more else ''}" if left else "more"
        note = (
            f"{rest} other ready invoices are not in this send (at most {MAX_BULK_INVOICES} per send):"
            " press *Send all ready* again afterwards."
        )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    blocks[-1] = {**blocks[-1], "block_id": BlockId.BULK_LIST}
    return {
        "type": "modal",
        "callback_id": CallbackId.BULK,
        "title": {"type": "plain_text", "text": "Send all ready"},
        "submit": {"type": "plain_text", "text": f"Send {len(items)}"[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": encode_numbers([item.number for item in items]),
        "blocks": blocks,
    }


def bulk_result_view(lines: list[BulkResultLine]) -> View:
    sent = [line for line in lines if line.sent]
    skipped = [line for line in lines if not line.sent]
    parts = [f"✅ *{len(sent)} asked to send*"]
    parts += [f"• *{escape(line.number)}* — {escape(line.outcome)}" for line in sent[:MAX_LISTED]]
    if skipped:
        parts.append(f"\n⚠️ *{len(skipped)} skipped*")
        parts += [f"• *{escape(line.number)}* — {escape(line.outcome)}" for line in skipped[:MAX_LISTED]]
    hidden = max(0, len(sent) - MAX_LISTED) + max(0, len(skipped) - MAX_LISTED)
    if hidden:
        parts.append(f"and {hidden} more")
    return message_view("Send all ready", "\n".join(parts))
