"""Block Kit builders: pure functions of plain data, testable without Slack.

Slack's limits are respected here, where the blocks are made: at most 50 blocks per
message, 3,000 characters per section text, 75 per button label, 150 per option value.
User-supplied text (customer names, descriptions) is escaped for mrkdwn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handlers.ids import COMMAND, ActionId, BlockId, MenuChoice
from handlers.parsing import DueListing, menu_value
from services.authorization import AUTOSEND, OPERATOR, REMINDERS
from services.formatting import format_balance, format_day, format_money
from services.invoicing.invoices import EVENTS_ACTOR
from services.paging import Paging
from services.sending.due import DueInvoice, DuePage, ReadyInvoices
from services.sending.readiness import NotReadyReason

Block = dict[str, Any]
MAX_BLOCKS = 50
DUE_PAGE_SIZE = 10  # 3 blocks a row + header, context and footer: 33 blocks, well under 50
SECTION_TEXT_LIMIT = 3000


# Slack has no escape for mrkdwn formatting: look-alikes stand in for the markers.
_NEEDS_ESCAPING = re.compile(r"[&<>*~`_]")
_UNDERSCORE_AT_A_WORD_EDGE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_ESCAPED_USER_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def escape(text: str, *, keep_user_mentions: bool = False) -> str:
    """The one way untrusted text reaches Slack: customer names and emails, invoice fields,
    remote servers' diagnostics, file contents — in blocks, modals, ephemeral answers and the
    fallback `text` of messages alike (Slack parses that one too and notifies from it).

    `&`, `<` and `>` become entities, so `<!channel>`, `<!here>`, `<@U…>`, `<!subteam^…>`
    and `<https://evil.example|Click here>` are shown as typed and never mention or link.
    `*`, `~` and backticks become look-alikes (∗ ∼ ˋ), and so does `_` where it could open
    or close italics (at the edge of a word: `ap_team@acme.example` keeps its underscore).
    Never apply it to our own mrkdwn (mentions of the acting user, our links).

    `keep_user_mentions` is for a domain error's sentence, which names people as `<@U…>`
    (“Already approved by <@U2>”) and may quote untrusted values: everything is escaped but
    plain user mentions. It is only for ephemeral answers, which notify nobody.
    """
    if not _NEEDS_ESCAPING.search(text):  # most names and numbers: the hot path of `/invoices due`
        return text
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace("*", "\u2217").replace("~", "\u223c").replace("`", "\u02cb")
    if "_" in escaped:
        escaped = _UNDERSCORE_AT_A_WORD_EDGE.sub("\u02cd", escaped)
    if keep_user_mentions:
        escaped = _ESCAPED_USER_MENTION.sub(r"<@\1>", escaped)
    return escaped


_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def who(actor: str | None) -> str:
    """Who did or asked for something, as every message names them: a Slack user is mentioned, the
    machine actors (the command line, autosend, the worker, a provider's report) are named in words."""
    if not actor:
        return "someone"
    if _SLACK_USER.match(actor):
        return f"<@{actor}>"
    if actor == OPERATOR:
        return "The operator (command line)"
    if actor == AUTOSEND:
        return "Autosend"
    if actor == REMINDERS:
        return "Reminders"
    if actor == EVENTS_ACTOR or actor.startswith("webhook"):
        return "The email provider's report"
    if actor.startswith("worker"):
        return "invoicebot"
    return escape(actor)


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, an ellipsis marking a cut (Slack rejects longer fields)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str, block_id: str | None = None) -> Block:
    """A mrkdwn section, clipped to Slack's limit with an ellipsis (longer text is rejected)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}}
    if block_id:
        block["block_id"] = block_id
    return block


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}]}


def overdue_words(days: int) -> str:
    if days <= 0:
        return "due today"
    return "1 day overdue" if days == 1 else f"{days} days overdue"


# Problems that come from the invoice's latest email: shown on their own line, with their icon.
_EMAIL_PROBLEM_ICONS = {
    NotReadyReason.NOT_RECEIVED: "❌",
    NotReadyReason.MAY_HAVE_ARRIVED: "❓",
    NotReadyReason.BEING_SENT: "📤",
}


def readiness_words(item: DueInvoice) -> str:
    if item.ready:
        return "✅ Ready to send"
    lines = [
        f"{_EMAIL_PROBLEM_ICONS[problem.reason]} {escape(problem.message)}"
        for problem in item.problems
        if problem.reason in _EMAIL_PROBLEM_ICONS
    ]
    others = [escape(problem.message) for problem in item.problems if problem.reason not in _EMAIL_PROBLEM_ICONS]
    if others:
        lines.append("⚠️ Not ready: " + "; ".join(others))
    return "\n".join(lines)


def _menu_options(item: DueInvoice) -> list[dict[str, Any]]:
    options = [(MenuChoice.PREVIEW_PDF, "Preview PDF")]
    if item.status == "draft":
        options.append((MenuChoice.VALIDATE, "Validate"))
    else:
        options.append((MenuChoice.MARK_SENT, "Mark as sent"))
        options.append((MenuChoice.RECORD_PAYMENT, RECORD_PAYMENT))  # paid before it was emailed
    return [{"text": plain_text(label), "value": menu_value(choice, item.number)} for choice, label in options]


def due_row_blocks(item: DueInvoice, *, listing: DueListing, index: int, locale: str) -> list[Block]:
    """One invoice of the due list; `locale` is the team's (the organisation's), as everywhere in Slack."""
    amount = format_balance(item.total, item.paid, item.currency, locale, item.credited)
    kind = "Credit note " if item.is_credit_note else ""
    if item.is_credit_note:
        amount = f"credit of {format_money(item.total, item.currency, locale)}"
    text = (
        f"{kind}*{escape(item.number)}* · {escape(item.customer_name)}\n"
        f"{amount} · {overdue_words(item.days_overdue)} (due {format_day(item.due_date, locale)})\n"
        f"{readiness_words(item)}"
    )
    review: dict[str, Any] = {
        "type": "button",
        "action_id": ActionId.REVIEW_AND_SEND,
        "text": plain_text("Review & send"),
        "value": item.number,
    }
    if item.ready:
        review["style"] = "primary"
    menu = {"type": "overflow", "action_id": ActionId.INVOICE_MENU, "options": _menu_options(item)}
    actions = {"type": "actions", "block_id": listing.row_block_id(index), "elements": [review, menu]}
    return [section(text), actions, {"type": "divider"}]


def due_listing_blocks(
    page: DuePage, *, listing: DueListing, today: date, locale: str, ready: ReadyInvoices | None = None
) -> list[Block]:
    """The `/invoices due` message: what must go out, why some cannot yet, and what to click.

    `ready` is every ready invoice across the pages (bounded); without it, the page's own.
    """
    who = f" for “{escape(listing.customer)}”" if listing.customer else ""
    if not page.items:
        if listing.customer:
            return [section(f"Nothing is due{who}: no unsent invoice of a matching customer is due by today.")]
        return [
            section(f"🎉 Nothing is due: every invoice due on or before {format_day(today, locale)} has been sent.")
        ]
    count = f"{page.total_count} invoice" + ("" if page.total_count == 1 else "s")
    blocks: list[Block] = [
        {
            "type": "header",
            "block_id": BlockId.DUE_HEADER,
            "text": plain_text(f"Due on or before {format_day(today, locale)}", 150),
        },
        context_block(f"{count} to send{who} · page {page.page} of {page.page_count} · oldest first"),
    ]
    for index, item in enumerate(page.items[:DUE_PAGE_SIZE]):
        blocks.extend(due_row_blocks(item, listing=DueListing(page.page, listing.customer), index=index, locale=locale))
    footer = due_footer(page, listing=listing, ready=ready)
    if footer is not None:
        blocks.append(footer)
    return blocks[:MAX_BLOCKS]


def paging_buttons(
    page: Paging, *, previous: ActionId, following: ActionId, value_of: Callable[[int], str]
) -> list[dict[str, Any]]:
    """◀ Previous / Next ▶ of any paged listing; `value_of(page number)` is what the click carries."""
    elements: list[dict[str, Any]] = []
    if page.has_previous:
        elements.append(
            {
                "type": "button",
                "action_id": previous,
                "text": plain_text("◀ Previous"),
                "value": value_of(page.page - 1),
            }
        )
    if page.has_next:
        elements.append(
            {"type": "button", "action_id": following, "text": plain_text("Next ▶"), "value": value_of(page.page + 1)}
        )
    return elements


def due_footer(page: DuePage, *, listing: DueListing, ready: ReadyInvoices | None = None) -> Block | None:
    elements = paging_buttons(
        page,
        previous=ActionId.DUE_PREVIOUS,
        following=ActionId.DUE_NEXT,
        value_of=lambda number: DueListing(number, listing.customer).encode(),
    )
    ready_count = len(ready.items) if ready is not None else sum(1 for item in page.items if item.ready)
    if ready_count:
        more = "+" if ready is not None and ready.more else ""
        elements.append(
            {
                "type": "button",
                "action_id": ActionId.SEND_ALL_READY,
                "text": plain_text(f"Send all ready ({ready_count}{more})"),
                "style": "primary",
                "value": DueListing(page.page, listing.customer).encode(),
            }
        )
    if not elements:
        return None
    return {"type": "actions", "block_id": BlockId.DUE_FOOTER, "elements": elements}


def notice_blocks(text: str) -> list[Block]:
    return [section(text)]


def with_notice(text: str, blocks: list[Block]) -> list[Block]:
    """A one-line outcome above a refreshed listing ("✅ INV-7 marked as sent")."""
    return [context_block(text), *blocks][:MAX_BLOCKS]


HELP_LINES = (
    (f"{COMMAND} due [customer]", "invoices due today or earlier that have not been sent, with what stops them"),
    (f"{COMMAND} show NUMBER", "one invoice: its lines, status and emails"),
    (f"{COMMAND} history NUMBER", "who did what to one invoice and its emails, and when"),
    (f"{COMMAND} paid NUMBER [AMOUNT] [YYYY-MM-DD]", "record a payment; no amount: the whole balance"),
    (
        f"{COMMAND} customer NAME",
        "a customer's open invoices and reminders: pause them, record a promise to pay, mark an invoice disputed",
    ),
    (
        f"{COMMAND} sent [customer] [status] [since YYYY-MM-DD | until YYYY-MM-DD | last N days]",
        "the latest invoice emails and what happened to each, e.g. `sent acme bounced last 30 days`",
    ),
    (f"{COMMAND} find TEXT", "invoices by number, customer name or amount (1250, 1 250,00, EUR 1250.00)"),
    (f"{COMMAND} problems", "emails that bounced, failed or need a decision"),
    (f"{COMMAND} settings", "roles, approval, channels, sender and legal details (admins)"),
    (f"{COMMAND} help", "this list"),
)


RECORD_PAYMENT = "Record payment"


def record_payment_button(number: str) -> Block:
    """*Record payment* (handlers.payments opens its modal), wherever Slack shows an invoice still owed."""
    button = {
        "type": "button",
        "action_id": ActionId.RECORD_PAYMENT,
        "text": plain_text(RECORD_PAYMENT),
        "value": number,
    }
    return {"type": "actions", "block_id": BlockId.PAYMENT_ACTIONS, "elements": [button]}


def help_blocks() -> list[Block]:
    lines = "\n".join(f"• `{usage}` — {what}" for usage, what in HELP_LINES)
    return [section("*invoicebot* sends your customer invoices by email and follows each email.\n" + lines)]


def unknown_command_blocks(subcommand: str) -> list[Block]:
    return [
        section(f"I don't know `{escape(clip(subcommand, 40))}`. Here is what I can do:"),
        *help_blocks(),
    ]


@dataclass(frozen=True)
class LineView:
    description: str
    quantity: Decimal
    net_amount: Decimal


@dataclass(frozen=True)
class InvoiceView:
    """An invoice as `/invoices show` presents it."""

    number: str
    customer_name: str
    status: str
    issue_date: date
    due_date: date
    currency: str
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    recipients: tuple[str, ...]
    lines: tuple[LineView, ...]
    sent_at: datetime | None = None
    sent_via: str | None = None
    sent_by: str | None = None
    state: str | None = None  # the invoice state as a person sees it ("❌ Not received: bounced to …")
    paid: Decimal = Decimal(0)  # payments recorded against it (services.invoicing.payments.balance_of)
    outstanding: Decimal | None = None  # None: no payment recorded, the total is owed
    credited: Decimal = Decimal(0)  # its issued credit notes' totals (the same balance rule)
    corrects: str = ""  # a credit note: the number of the invoice it corrects
    credit_notes: tuple[tuple[str, Decimal, str], ...] = ()  # an invoice's credit notes: number, total, status

    @property
    def document_word(self) -> str:
        return "Credit note" if self.corrects else "Invoice"


MAX_SHOWN_LINES = 10


def invoice_blocks(invoice: InvoiceView, *, today: date, locale: str, deliveries: Sequence[str] = ()) -> list[Block]:
    """One invoice; `deliveries` are its latest emails already in words (newest first)."""

    def money(amount: Decimal) -> str:
        return format_money(amount, invoice.currency, locale)

    due = format_day(invoice.due_date, locale)
    if invoice.status in ("draft", "validated"):
        due += f" ({overdue_words((today - invoice.due_date).days)})" if invoice.due_date <= today else ""
    owed = invoice.outstanding if invoice.paid or invoice.credited else None  # once something was paid or credited
    paid_words = f"*Paid:* {money(invoice.paid)} · " if invoice.paid else ""
    credited_words = f"*Credited:* {money(invoice.credited)} · " if invoice.credited else ""
    facts = [
        *([f"*Credit note for invoice {escape(invoice.corrects)}*"] if invoice.corrects else []),
        f"*Customer:* {escape(invoice.customer_name)}",
        f"*Status:* {escape(invoice.state) if invoice.state else invoice.status}",
        f"*Issued:* {format_day(invoice.issue_date, locale)}",
        f"*Due:* {due}",
        f"*Total:* {money(invoice.total)} ({money(invoice.subtotal)} + tax {money(invoice.tax_total)})",
        *([f"{paid_words}{credited_words}*Outstanding:* {money(owed)}"] if owed is not None else []),
        *(
            [
                "*Credit notes:* "
                + ", ".join(
                    f"{escape(number)} ({money(total)}, {status})" for number, total, status in invoice.credit_notes
                )
            ]
            if invoice.credit_notes
            else []
        ),
        "*To:* " + (escape(", ".join(invoice.recipients)) if invoice.recipients else "no recipient email"),
    ]
    shown = invoice.lines[:MAX_SHOWN_LINES]
    lines = "\n".join(
        f"• {escape(clip(line.description, 120))} × {line.quantity.normalize():f} — {money(line.net_amount)}"
        for line in shown
    )
    if len(invoice.lines) > MAX_SHOWN_LINES:
        lines += f"\n…and {len(invoice.lines) - MAX_SHOWN_LINES} more lines"
    if invoice.sent_at is not None:
        how = "by email" if invoice.sent_via == "email" else "by other means (marked as sent)"
        who = f" by <@{invoice.sent_by}>" if invoice.sent_by and invoice.sent_by.startswith("U") else ""
        timeline = f"Sent {how} on {format_day(invoice.sent_at.date(), locale)}{who}."
    elif deliveries:  # emailed, but none of its emails counts as sent (bounced, failed, in doubt, on its way)
        timeline = "Not sent yet. Its latest emails:"
    else:
        timeline = "No email has been sent for this invoice yet."
    blocks = [
        {"type": "header", "text": plain_text(f"{invoice.document_word} {invoice.number}", 150)},
        section("\n".join(facts)),
        section("*Lines*\n" + (lines or "no lines")),
        section("*Emails*\n" + timeline),
    ]
    blocks.extend(section(summary) for summary in deliveries)
    return blocks
