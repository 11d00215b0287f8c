"""The send window's preview in the channel, and its *Review* modal: pure functions of plain data.

The message: "3 reminders and 2 invoices go out at 09:00 (Europe/Zurich)", whom and what (trimmed
to Slack's limits), and *Review* · *Skip today* (with a confirm dialog). Both buttons carry the
organisation's local day the preview is for. The modal lists each reminder and each autosend
invoice as a ticked checkbox (ticked = goes out); Slack allows 10 options per checkbox group, so
they come in groups of 10, each group's block id naming its kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.blocks.elements import Block, clip, context_block, escape, plain_text, section
from handlers.ids import ActionId, BlockId, CallbackId
from services.errors import InvalidInput
from services.reminders.preview import PreviewRound

MAX_NAMED = 15  # lines naming a reminder or invoice in the message; the rest counted
MAX_LINE_CHARS = 2900
GROUP = 10  # Slack's limit of options in one checkboxes element
MAX_LISTED = 40  # reminders + invoices in the modal (4 groups each leaves room under 100 blocks)
TITLE = "Scheduled mail"
SKIP_CONFIRM = "Nothing listed here goes out that day: the reminders are skipped, autosend waits a day."


def _count(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def headline(reminders: int, invoices: int, at: str, time_zone: str) -> str:
    """ "3 reminders and 2 invoices go out at 09:00 (Europe/Zurich)": the one sentence of the preview."""
    parts = [_count(reminders, "reminder")] if reminders else []
    parts += [_count(invoices, "invoice")] if invoices else []
    verb = "goes" if reminders + invoices == 1 else "go"
    return f"{' and '.join(parts) or 'Nothing scheduled'} {verb} out at {at} ({time_zone})"


def _listed(lines: Sequence[str]) -> str:
    more = len(lines) - MAX_NAMED
    return "\n".join(lines[:MAX_NAMED]) + (f"\n…and {more} more" if more > 0 else "")


def window_preview_message(payload: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The fallback text and the blocks of the preview post (the notification's payload)."""
    reminders: Sequence[Any] = payload.get("reminders") or []
    invoices: Sequence[Any] = payload.get("invoices") or []
    day = str(payload.get("day") or "")
    text = headline(len(reminders), len(invoices), str(payload.get("at") or ""), str(payload.get("time_zone") or ""))
    blocks: list[Block] = [section(f"📬 *{escape(text)}*")]
    if reminders:
        lines = [f"• {escape(str(item[0]))} — {escape(str(item[1]))}" for item in reminders if len(item) == 2]
        blocks.append(section(clip(f"*Reminders*\n{_listed(lines)}", MAX_LINE_CHARS)))
    if invoices:
        lines = [f"• *{escape(str(number))}*" for number in invoices]
        blocks.append(section(clip(f"*Autosend*\n{_listed(lines)}", MAX_LINE_CHARS)))
    if reminders or invoices:
        blocks.append(actions_block(day))
    return text, blocks


def actions_block(day: str) -> Block:
    review = {"type": "button", "text": plain_text("Review"), "action_id": ActionId.PREVIEW_REVIEW, "value": day}
    skip = {
        "type": "button",
        "text": plain_text("Skip today"),
        "action_id": ActionId.PREVIEW_SKIP_TODAY,
        "value": day,
        "style": "danger",
        "confirm": {
            "title": plain_text("Skip today?"),
            "text": plain_text(SKIP_CONFIRM, 300),
            "confirm": plain_text("Skip today"),
            "deny": plain_text("Keep them"),
        },
    }
    return {"type": "actions", "block_id": BlockId.PREVIEW_ACTIONS, "elements": [review, skip]}


def stopped_words(payload: Mapping[str, Any]) -> str:
    """ "⏭️ Skipped for today by @x: …" or "✋ 1 reminder stopped by @x" (and what was too late)."""
    reminders, invoices = int(payload.get("reminders") or 0), int(payload.get("invoices") or 0)
    actor = escape(str(payload.get("actor") or ""), keep_user_mentions=True)
    if payload.get("whole_day"):
        return f"⏭️ Skipped for today by <@{actor}>: {_count(reminders, 'reminder')} stopped, no autosend today."
    parts = [_count(reminders, "reminder")] if reminders else []
    parts += [_count(invoices, "invoice")] if invoices else []
    too_late: Sequence[Any] = payload.get("too_late") or []
    line = f"✋ {' and '.join(parts) or 'Nothing'} stopped by <@{actor}>"
    return line + (f" ({escape('; '.join(map(str, too_late)))}: too late to stop)" if too_late else "")


def window_preview_stopped_message(payload: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The preview rewritten after a stop: the listing (without buttons once the day is skipped), then who did it."""
    line = stopped_words(payload)
    _, blocks = window_preview_message(payload.get("listing") or {})
    if payload.get("whole_day"):
        blocks = [block for block in blocks if block.get("block_id") != BlockId.PREVIEW_ACTIONS]
    return line, [*blocks, context_block(line)]


@dataclass(frozen=True)
class ReviewTarget:
    """What the modal acts on: the local day and the preview message to rewrite afterwards."""

    day: str
    channel: str
    ts: str

    def metadata(self) -> str:
        return json.dumps({"day": self.day, "channel": self.channel, "ts": self.ts})


def target_of(view: Mapping[str, Any]) -> ReviewTarget:
    try:
        data = json.loads(str(view.get("private_metadata") or ""))
        return ReviewTarget(str(data["day"]), str(data["channel"]), str(data["ts"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("This form is from an older message; press Review on the preview again.") from None


def _option(value: str, label: str, description: str) -> dict[str, Any]:
    return {"text": plain_text(label), "value": value, "description": plain_text(description, 150)}


def _groups(kind: str, label: str, options: list[dict[str, Any]]) -> list[Block]:
    blocks: list[Block] = []
    for start in range(0, len(options), GROUP):
        chunk = options[start : start + GROUP]
        element = {"type": "checkboxes", "action_id": "ticked", "options": chunk, "initial_options": chunk}
        blocks.append(
            {
                "type": "input",
                "block_id": f"{kind}:{start // GROUP}",
                "label": plain_text(label if start == 0 else f"{label} (more)"),
                "element": element,
                "optional": True,
            }
        )
    return blocks


def review_modal(found: PreviewRound, target: ReviewTarget) -> dict[str, Any]:
    """Each reminder and autosend invoice still to go, ticked; untick to stop it for today."""
    reminders = [
        _option(f"r{item.reminder_id}", item.customer, f"{', '.join(item.invoices)} · step {item.step_offset:+d} days")
        for item in found.reminders
    ][:MAX_LISTED]
    invoices = [_option(f"i{number}", number, "autosend") for number in found.invoices][:MAX_LISTED]
    blocks: list[Block] = [
        section(f"*{escape(headline(len(found.reminders), len(found.invoices), found.at, found.time_zone))}*"),
        context_block("Untick what must not go out today. Anything already sent is not listed: it cannot be stopped."),
        *_groups("pv_r", "Reminders", reminders),
        *_groups("pv_i", "Autosend", invoices),
    ]
    unlisted = max(0, len(found.reminders) - MAX_LISTED) + max(0, len(found.invoices) - MAX_LISTED)
    if unlisted:
        blocks.append(context_block(f"…and {unlisted} more not listed here: they go out (*Skip today* stops all)."))
    if found.gone:
        lines = [f"{item.customer} ({', '.join(item.invoices)})" for item in found.gone]
        blocks.append(context_block(clip(f"Already sent, too late to stop: {escape('; '.join(lines))}", 2900)))
    return {
        "type": "modal",
        "callback_id": CallbackId.PREVIEW_REVIEW,
        "title": plain_text(TITLE, 24),
        "submit": plain_text("Stop unticked"),
        "close": plain_text("Cancel"),
        "private_metadata": target.metadata(),
        "blocks": blocks,
    }


def unticked(view: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The reminder ids and invoice numbers the person unticked (listed in the modal, sent back unselected)."""
    state: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    reminders: list[int] = []
    invoices: list[str] = []
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if not block_id.startswith(("pv_r:", "pv_i:")) or block_id not in state:
            continue  # a group Slack did not send back is left as it was: stopping is never a guess
        listed = [str(option["value"]) for option in (block.get("element") or {}).get("options") or []]
        chosen = ((state.get(block_id) or {}).get("ticked") or {}).get("selected_options") or []
        kept = {str(option.get("value")) for option in chosen}
        for value in listed:
            if value in kept:
                continue
            if value.startswith("r") and value[1:].isdigit():
                reminders.append(int(value[1:]))
            elif value.startswith("i"):
                invoices.append(value[1:])
    return tuple(reminders), tuple(invoices)
