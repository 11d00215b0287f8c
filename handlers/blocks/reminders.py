"""Block Kit for reminders in Slack: `/invoices customer NAME`, its three modals, and the *Reminders*
section of `/invoices show`. Pure functions of the plain data services.reminders.overview returns.

Amounts owed are written with `format_balance` (the one way Slack shows a balance); the customer's
own text (names, a dispute's reason) is escaped; people are named with `who` (a Slack mention).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from handlers.blocks.elements import MAX_BLOCKS, Block, clip, context_block, escape, plain_text, section, who
from handlers.ids import COMMAND, ActionId, BlockId, CallbackId
from handlers.parsing import lift_button_value
from services.db.models import ReminderState
from services.formatting import format_balance, format_day
from services.reminders.ladder import Step
from services.reminders.overview import CustomerOverview, InvoiceReminders, NextReminder, ReminderLine, Stop

PAUSE, RESUME, PROMISE, DISPUTE, LIFT, TURN_ON, TURN_OFF = (
    "Pause reminders",
    "Resume reminders",
    "Promise to pay",
    "Mark disputed",
    "Lift dispute",
    "Turn reminders on",
    "Turn reminders off",
)
REMINDERS_OFF = (Stop.SENT_MANUALLY, Stop.SWITCHED_OFF)  # an invoice row's switch turns these on, others off
MAX_MATCHES_SHOWN = 10


_STOP_WORDS = {
    Stop.PAID: "paid",
    Stop.VOID: "void",
    Stop.CREDIT_NOTE: "a credit note is never reminded",
    Stop.NOT_SENT: "not sent yet (reminders start once it is sent)",
    Stop.NOTHING_OWED: "nothing left to pay",
    Stop.SWITCHED_OFF: "reminders turned off for this invoice",
    Stop.SENT_MANUALLY: "sent manually — reminders off",
    Stop.LADDER_DONE: "the last step of the ladder was reached",
}


def lateness_words(days_overdue: int) -> str:
    if days_overdue < 0:
        return f"due in {-days_overdue} day{'s' if days_overdue != -1 else ''}"
    if days_overdue == 0:
        return "due today"
    return f"{days_overdue} day{'s' if days_overdue != 1 else ''} overdue"


def ladder_words(ladder: Sequence[Step]) -> str:
    return ", ".join(step.words for step in ladder)


def next_words(item: InvoiceReminders, nxt: NextReminder, *, today: date, locale: str) -> str:
    """The next reminder of one invoice in words, or the stop that holds it."""
    if nxt.step is not None and nxt.on is not None:
        when = "today (with the next run)" if nxt.on <= today else format_day(nxt.on, locale)
        return f"step {nxt.step.words} on {when}"
    if nxt.stop == Stop.DISPUTED:
        return f"none: disputed by {who(item.disputed_by)}: {escape(item.disputed_reason or '')}"
    if nxt.stop in (Stop.PROMISED, Stop.PAUSED) and nxt.until is not None and nxt.resumes_on is not None:
        held = "promised to pay by" if nxt.stop == Stop.PROMISED else "customer paused until"
        resumes = format_day(nxt.resumes_on, locale)
        return f"none: {held} {format_day(nxt.until, locale)}; reminders resume on {resumes}"
    return f"none: {_STOP_WORDS.get(nxt.stop, 'a stop rule holds it back') if nxt.stop else 'nothing planned'}"


def history_line(line: ReminderLine, *, locale: str) -> str:
    """`• 17 November 2026: step +7 neutral — email delivered` (or `skipped`, `no email yet`), and its note."""
    if line.state == ReminderState.SKIPPED:
        outcome = "skipped"
    else:
        outcome = f"email {line.email_status}" if line.email_status else "no email yet"
    note = f" ({escape(clip(line.note, 160))})" if line.note else ""
    return f"• {format_day(line.cohort, locale)}: step {line.step_offset:+d} {line.tone} — {outcome}{note}"


def reminders_section(item: InvoiceReminders, *, today: date, locale: str) -> Block:
    """`/invoices show`'s *Reminders*: what went out for the invoice, and what comes next (or why nothing)."""
    history = "\n".join(history_line(line, locale=locale) for line in item.history) or "No reminder yet."
    return section(f"*Reminders*\n{history}\n*Next:* {next_words(item, item.next, today=today, locale=locale)}")


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "text": plain_text(text), "value": value}
    if style:
        button["style"] = style
    return button


def customer_blocks(view: CustomerOverview, *, locale: str) -> list[Block]:
    """A customer's reminder overview: ladder, pause, next reminder, its open invoices, and the buttons."""
    whose = "its own" if view.own_ladder else "the organisation's"
    ladder = f"*Ladder:* {ladder_words(view.ladder)} ({whose})"
    if view.paused_until is not None:
        paused = f"*Paused* until {format_day(view.paused_until, locale)} by {who(view.paused_by)}"
    else:
        paused = "*Reminders:* on"
    soonest = view.next
    if soonest is not None and soonest.step is not None and soonest.on is not None:
        when = "today (with the next run)" if soonest.on <= view.today else format_day(soonest.on, locale)
        coming = f"*Next reminder:* step {soonest.step.words} on {when}"
    elif view.invoices:
        coming = "*Next reminder:* none planned (see each invoice)"
    else:
        coming = "*Next reminder:* none: no open invoice"
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(f"{view.name} ({view.ref})", 150)},
        section("\n".join([ladder, paused, coming])),
    ]
    buttons = [
        _button(RESUME, ActionId.CUSTOMER_RESUME, view.ref)
        if view.paused_until is not None
        else _button(PAUSE, ActionId.CUSTOMER_PAUSE, view.ref)
    ]
    if view.invoices:
        buttons += [
            _button(PROMISE, ActionId.CUSTOMER_PROMISE, view.ref),
            _button(DISPUTE, ActionId.CUSTOMER_DISPUTE, view.ref, style="danger"),
        ]
    blocks.append({"type": "actions", "block_id": BlockId.CUSTOMER_ACTIONS, "elements": buttons})
    if not view.invoices:
        blocks.append(section("No open invoice: nothing to remind."))
    for index, item in enumerate(view.invoices):
        blocks.append(_invoice_row(item, index, ref=view.ref, today=view.today, locale=locale))
    if view.more_open:
        blocks.append(context_block(f"…and {view.more_open} more open invoices."))
    return blocks[:MAX_BLOCKS]


def _invoice_row(item: InvoiceReminders, index: int, *, ref: str, today: date, locale: str) -> Block:
    balance = format_balance(item.total, item.paid, item.currency, locale, item.credited)
    lines = [
        f"*{escape(item.number)}* · {balance} · {lateness_words(item.days_overdue)}",
        f"Next: {next_words(item, item.next, today=today, locale=locale)}",
    ]
    if item.promised_until is not None and item.next.stop != Stop.PROMISED:
        lines.append(f"Promised to pay by {format_day(item.promised_until, locale)}")
    if item.history:
        last = item.history[-1]
        lines.append(f"Last reminder: {history_line(last, locale=locale).removeprefix('• ')}")
    block = section("\n".join(lines), block_id=f"{BlockId.CUSTOMER_INVOICE}:{index}")
    if item.disputed_by is not None:
        block["accessory"] = _button(LIFT, ActionId.CUSTOMER_LIFT_DISPUTE, lift_button_value(ref, item.number))
    else:  # one accessory a row: the dispute is lifted first, then reminders are on again
        on = item.next.stop in REMINDERS_OFF
        value = lift_button_value(ref, item.number, on=on)
        block["accessory"] = _button(TURN_ON if on else TURN_OFF, ActionId.CUSTOMER_INVOICE_REMINDERS, value)
    return block


def matches_blocks(text: str, matches: Sequence[tuple[str, str]]) -> list[Block]:
    """Several customers match: their names and refs, and how to ask for one."""
    shown = "\n".join(f"• {escape(name)} — `{escape(ref)}`" for ref, name in matches[:MAX_MATCHES_SHOWN])
    more = "\n…and more: type more of the name." if len(matches) > MAX_MATCHES_SHOWN else ""
    return [
        section(
            f"Several customers match {escape(clip(text, 80))!r}:\n{shown}{more}\n"
            f"Run `{COMMAND} customer REF` with one of these references."
        )
    ]


def _input(block_id: str, label: str, element: dict[str, Any]) -> Block:
    return {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element}


def _modal(callback_id: str, title: str, submit: str, ref: str, blocks: list[Block]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": ref,
        "title": plain_text(title, 24),
        "submit": plain_text(submit),
        "close": plain_text("Cancel"),
        "blocks": blocks,
    }


def _invoice_select(invoices: Sequence[InvoiceReminders], *, locale: str) -> Block:
    options = [
        {
            "text": plain_text(
                f"{item.number} · {format_balance(item.total, item.paid, item.currency, locale, item.credited)}"
            ),
            "value": clip(item.number, 150),
        }
        for item in invoices[:100]
    ]
    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": options}
    if len(options) == 1:
        element["initial_option"] = options[0]
    return _input(BlockId.STOP_INVOICE, "Invoice", element)


def pause_modal(view: CustomerOverview, *, tomorrow: date) -> dict[str, Any]:
    return _modal(CallbackId.PAUSE_REMINDERS, PAUSE, "Pause", view.ref, [
        section(f"No reminder goes to *{escape(view.name)}* up to and including this day; they resume the day after."),
        _input(BlockId.PAUSE_UNTIL, "Paused until", {
            "type": "datepicker", "action_id": "value", "initial_date": tomorrow.isoformat(),
        }),
    ])  # fmt: skip


def promise_modal(view: CustomerOverview, *, locale: str) -> dict[str, Any]:
    return _modal(CallbackId.PROMISE_TO_PAY, PROMISE, "Save", view.ref, [
        section(f"*{escape(view.name)}* promised to pay: no reminder for the invoice until that day (inclusive)."),
        _invoice_select(view.invoices, locale=locale),
        _input(BlockId.PROMISE_UNTIL, "Promised to pay by", {"type": "datepicker", "action_id": "value"}),
    ])  # fmt: skip


def dispute_modal(view: CustomerOverview, *, locale: str) -> dict[str, Any]:
    return _modal(CallbackId.MARK_DISPUTED, DISPUTE, "Mark disputed", view.ref, [
        section(f"No reminder goes out for a disputed invoice of *{escape(view.name)}* until the dispute is lifted."),
        _invoice_select(view.invoices, locale=locale),
        _input(BlockId.DISPUTE_REASON, "The customer's reason", {
            "type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 500,
        }),
    ])  # fmt: skip


def done_view(title: str, sentence: str, view: CustomerOverview, *, locale: str) -> dict[str, Any]:
    """After a submission: what was done, then the customer as it now stands (without its buttons)."""
    overview = [block for block in customer_blocks(view, locale=locale) if block.get("type") != "actions"]
    for block in overview:
        block.pop("accessory", None)
    return {
        "type": "modal",
        "title": plain_text(title, 24),
        "close": plain_text("Close"),
        "blocks": [section(f"✅ {escape(sentence)}"), *overview][:100],
    }
