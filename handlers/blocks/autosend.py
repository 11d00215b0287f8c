"""The notify channel's note of what an autosend round did: pure function of the owed post's payload.

Each send autosend asks for also gets its own status message (as any send); this note is the
round's summary, and the once-a-day reminder of invoices autosend leaves for a person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.blocks.elements import Block, clip, context_block, escape, section
from handlers.ids import COMMAND

MAX_NAMED = 20  # numbers named per line; the rest counted
MAX_LINE_CHARS = 2900


def _numbers(numbers: Sequence[Any]) -> str:
    named = ", ".join(f"*{escape(str(number))}*" for number in numbers[:MAX_NAMED])
    more = len(numbers) - MAX_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def _invoices(count: int) -> str:
    return f"{count} invoice" + ("" if count == 1 else "s")


def autosend_message(payload: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The fallback text and the blocks: what was asked for, what waits for an approver, what a person must do."""
    queued: Sequence[Any] = payload.get("queued") or []
    waiting: Sequence[Any] = payload.get("awaiting_approval") or []
    skipped: Sequence[Any] = payload.get("skipped") or []
    lines: list[str] = []
    if queued:
        lines.append(f"🤖 Autosend is sending {_invoices(len(queued))}: {_numbers(queued)}")
    if waiting:
        lines.append(f"⏳ Autosend asked an approver for {_invoices(len(waiting))}: {_numbers(waiting)}")
    text = " · ".join(lines) or f"Autosend left {_invoices(len(skipped))} for a person"
    blocks: list[Block] = [section(clip(line, MAX_LINE_CHARS)) for line in lines]
    if skipped:
        reasons = "\n".join(
            f"• *{escape(str(item[0]))}* — {escape(str(item[1]))}" for item in skipped[:MAX_NAMED] if len(item) == 2
        )
        more = f"\n…and {len(skipped) - MAX_NAMED} more" if len(skipped) > MAX_NAMED else ""
        blocks.append(
            section(
                clip(
                    f"✋ *Autosend could not send {_invoices(len(skipped))}* — a person must:\n{reasons}{more}",
                    MAX_LINE_CHARS,
                )
            )
        )
        blocks.append(context_block(f"They stay in `{COMMAND} due`; autosend names them here once a day."))
    return text, blocks
