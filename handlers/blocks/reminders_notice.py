"""The notify channel's notes from the reminder scheduler: pure functions of the owed post's payload.

Two kinds of news, each said once: a round that caught up after an outage (the steps produced
late, and those skipped as too late to send), and reminders that could not be sent (no address,
a suppressed one, an approval nobody can give) with the reason a person can act on. Each reminder
email that does go gets its own status message, as any send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.blocks.elements import Block, clip, context_block, escape, section

MAX_NAMED = 20  # reminders listed per block; the rest counted
MAX_LINE_CHARS = 2900


def _reminders(count: int) -> str:
    return f"{count} reminder" + ("" if count == 1 else "s")


def _numbers(numbers: Sequence[Any]) -> str:
    return ", ".join(f"*{escape(str(number))}*" for number in numbers)


def _step(step: Any) -> str:
    return f"step {int(step):+d} days" if isinstance(step, int) else "a step"


def _listed(items: Sequence[Any], line: Any) -> str:
    shown = "\n".join(line(item) for item in items[:MAX_NAMED] if isinstance(item, Mapping | list))
    more = len(items) - MAX_NAMED
    return shown + (f"\n…and {more} more" if more > 0 else "")


def _catch_up_line(item: Mapping[str, Any]) -> str:
    customer = escape(str(item.get("customer", "")))
    return f"• {customer} — {_step(item.get('step'))}: {_numbers(item.get('numbers') or [])}"


def _not_sent_line(item: Sequence[Any]) -> str:
    customer, numbers, reason = [*item, "", [], ""][:3]
    return f"• {escape(str(customer))} ({_numbers(numbers or [])}) — {escape(str(reason))}"


def reminders_message(payload: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The fallback text and the blocks of one note: a catch-up, or reminders that could not go."""
    caught: Sequence[Any] = payload.get("caught_up") or []
    skipped: Sequence[Any] = payload.get("skipped") or []
    not_sent: Sequence[Any] = payload.get("not_sent") or []
    blocks: list[Block] = []
    lines: list[str] = []
    if caught:
        lines.append(f"🔁 Reminders caught up {_reminders(len(caught))} reached while nothing ran")
        blocks.append(section(clip(f"*{lines[-1]}*\n{_listed(caught, _catch_up_line)}", MAX_LINE_CHARS)))
    if skipped:
        lines.append(f"⏭️ {_reminders(len(skipped))} skipped: missed by too much to be sent late")
        blocks.append(section(clip(f"*{lines[-1]}*\n{_listed(skipped, _catch_up_line)}", MAX_LINE_CHARS)))
    if caught or skipped:
        day = escape(str(payload.get("day", "")))
        blocks.append(context_block(f"Caught up on {day}: the latest step reached, once; none is ever sent twice."))
    if not_sent:
        lines.append(f"✋ Reminders could not send {_reminders(len(not_sent))} — a person must")
        blocks.append(section(clip(f"*{lines[-1]}:*\n{_listed(not_sent, _not_sent_line)}", MAX_LINE_CHARS)))
        blocks.append(context_block("They are not retried: fix the customer, then remind them by hand."))
    return " · ".join(lines) or "Reminders", blocks
