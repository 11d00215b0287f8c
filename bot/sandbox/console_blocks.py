"""Block Kit as terminal text, for the demo console: pure functions of the blocks Slack received.

Sections, fields, context, headers and dividers become indented lines; mrkdwn becomes
plain text (`<@U0BOB>` → `@bob`, `<url|label>` → `label (url)`, `*bold*` → `bold`).
Every button and every overflow option becomes a `Clickable`, shown as `[n] label` by
the caller's numbering, and remembers the row text it stands in (so `click Review & send
DEMO-0009` can find the right row). Modal inputs are shown field by field with the value
they hold now.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

Block = Mapping[str, Any]

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]+)?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]+))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
MAX_FIELD_LINES = 12  # a long message is shown in part; `fill` or `set` still edit all of it
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


@dataclass(frozen=True)
class Where:
    """Where a clicked element lives: a channel message, an ephemeral reply, or a modal."""

    kind: str  # channel | reply | modal
    channel: str = ""
    ts: str = ""


@dataclass(frozen=True)
class Clickable:
    label: str
    context: str  # the row's text and the element's value, for `click LABEL ROW-TEXT`
    element: Mapping[str, Any] = field(repr=False)
    block_id: str
    where: Where
    option_value: str | None = None  # set for an overflow menu's option


def plain(text: str, names: Mapping[str, str] | None = None) -> str:
    """mrkdwn → what a person reads."""
    names = names or {}
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    return html.unescape(text)


def _text_of(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, Mapping):
        return plain(str(value.get("text", "")), names)
    return plain(str(value or ""), names)


def _indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]


Number = Callable[[Clickable], int]


def render_blocks(blocks: Sequence[Block], *, where: Where, number: Number, names: Mapping[str, str]) -> list[str]:
    """The blocks of a message or modal as lines; `number` registers each clickable and names it."""
    lines: list[str] = []
    row_text = ""
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"  == {_text_of(block.get('text'), names)} ==")
        elif kind == "section":
            row_text = _text_of(block.get("text"), names) if block.get("text") else ""
            lines += _section_lines(block, row_text, where, number, names)
        elif kind == "context":
            parts = [_text_of(item, names) for item in block.get("elements") or [] if item.get("type") != "image"]
            lines += _indent(" · ".join(parts), "  · ")
        elif kind == "divider":
            lines.append("  " + "─" * 40)
        elif kind == "actions":
            shown = _elements(block.get("elements") or [], block, row_text, where, number, names)
            if shown:
                lines.append("    " + "  ".join(shown))
        elif kind == "image":
            lines.append(f"  [image: {block.get('alt_text', '')}]")
        elif kind == "input":
            lines += render_input(block, names=names)
    return lines


def _section_lines(block: Block, row_text: str, where: Where, number: Number, names: Mapping[str, str]) -> list[str]:
    """A section: its text, its fields, and its button or overflow menu, numbered."""
    lines = _indent(row_text) if row_text else []
    for item in block.get("fields") or []:
        lines += _indent(_text_of(item, names), "    ")
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and accessory.get("type") in ("button", "overflow"):
        lines.append("    " + "  ".join(_elements([accessory], block, row_text, where, number, names)))
    return lines


def _elements(
    elements: list[Mapping[str, Any]],
    block: Block,
    row_text: str,
    where: Where,
    number: Number,
    names: Mapping[str, str],
) -> list[str]:
    shown = []
    block_id = str(block.get("block_id", ""))
    for element in elements:
        if element.get("type") == "button":
            label = _text_of(element.get("text"), names)
            context = f"{row_text} {element.get('value', '')}"
            clickable = Clickable(label, context, element, block_id, where)
            shown.append(f"[{number(clickable)}] {label}")
        elif element.get("type") == "overflow":
            for option in element.get("options") or []:
                label = _text_of(option.get("text"), names)
                context = f"{row_text} {option.get('value', '')}"
                clickable = Clickable(label, context, element, block_id, where, option_value=str(option.get("value")))
                shown.append(f"[{number(clickable)}] ⋯ {label}")
    return shown


def input_label(block: Block) -> str:
    return plain(str((block.get("label") or {}).get("text", "")))


def option_label(option: Mapping[str, Any] | None) -> str:
    return plain(str(((option or {}).get("text") or {}).get("text", ""))) if option else ""


def input_value(block: Block, typed: Mapping[str, Any]) -> Any:
    """What an input holds now: what was typed (by block id), else its initial value."""
    block_id = str(block.get("block_id", ""))
    if block_id in typed:
        return typed[block_id]
    element = block.get("element") or {}
    kind = element.get("type")
    if kind == "plain_text_input":
        return str(element.get("initial_value") or "")
    if kind in ("checkboxes", "multi_static_select"):
        return list(element.get("initial_options") or [])
    if kind == "multi_users_select":
        return list(element.get("initial_users") or [])
    if kind == "conversations_select":
        return element.get("initial_conversation")
    return element.get("initial_option")


def describe_value(block: Block, value: Any) -> str:
    element = block.get("element") or {}
    kind = element.get("type")
    if kind == "plain_text_input":
        text = str(value or "")
        return text.replace("\n", " ⏎ ") if text else "(empty)"
    if kind == "checkboxes":
        chosen = {option.get("value") for option in value or []}
        return "  ".join(
            f"[{'x' if option.get('value') in chosen else ' '}] {option_label(option)}"
            for option in element.get("options") or []
        )
    if kind in ("multi_users_select", "multi_static_select"):
        shown = [option_label(item) if isinstance(item, Mapping) else f"@{item}" for item in value or []]
        return ", ".join(shown) or "(none)"
    if kind == "conversations_select":
        return f"#{value}" if value else "(none)"
    if kind == "file_input":
        return f"{len(value or [])} file(s)" if value else "(none)"
    return option_label(value) or "(none)"


def render_input(block: Block, *, names: Mapping[str, str], typed: Mapping[str, Any] | None = None) -> list[str]:
    element = block.get("element") or {}
    required = "" if block.get("optional") else "*"
    current = input_value(block, typed or {})
    if element.get("type") == "plain_text_input" and "\n" in str(current or ""):
        text_lines = str(current).rstrip("\n").splitlines()
        shown = [f"      | {line}" for line in text_lines[:MAX_FIELD_LINES]]
        more = ["      | …"] if len(text_lines) > MAX_FIELD_LINES else []
        return [f"  {input_label(block)}{required}:", *shown, *more]
    lines = [f"  {input_label(block)}{required}: {describe_value(block, current)}"]
    if element.get("type") in ("static_select", "radio_buttons"):
        choices = " | ".join(option_label(option) for option in element.get("options") or [])
        lines.append(f"      (choices: {choices})")
    return lines


def state_values(view: Mapping[str, Any], typed: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`view.state.values` as Slack submits it: each input's current value."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element, block_id = block.get("element") or {}, str(block.get("block_id"))
        value = input_value(block, typed)
        kind, action_id = element.get("type"), str(element.get("action_id"))
        if kind == "plain_text_input":
            values[block_id] = {action_id: {"type": kind, "value": value or None}}
        elif kind in ("checkboxes", "multi_static_select"):
            values[block_id] = {action_id: {"type": kind, "selected_options": list(value or [])}}
        elif kind == "multi_users_select":
            values[block_id] = {action_id: {"type": kind, "selected_users": list(value or [])}}
        elif kind == "conversations_select":
            values[block_id] = {action_id: {"type": kind, "selected_conversation": value}}
        elif kind == "file_input":  # file ids the console uploaded to the Slack stand-in
            values[block_id] = {action_id: {"type": kind, "files": [{"id": file_id} for file_id in value or []]}}
        else:
            values[block_id] = {action_id: {"type": kind, "selected_option": value}}
    return values


def parse_choice(block: Block, answer: str) -> Any:
    """A typed answer for a field, as the value `state_values` needs; ValueError says what to type."""
    element = block.get("element") or {}
    kind = element.get("type")
    if kind == "plain_text_input":
        return answer.replace("\\n", "\n")
    if kind == "file_input":
        return [path.strip() for path in answer.split(",") if path.strip()]
    options = list(element.get("options") or [])
    wanted = answer.strip().lower()
    if kind == "checkboxes":
        if wanted in ("yes", "y", "x", "true", "on", "[x]"):
            return options
        if wanted in ("no", "n", "", "false", "off", "[ ]"):
            return []
    for index, option in enumerate(options, start=1):
        if wanted in (option_label(option).lower(), str(option.get("value", "")).lower(), str(index)):
            return [option] if kind == "checkboxes" else option
    choices = ", ".join(option_label(option) for option in options)
    if kind == "checkboxes":
        choices = "yes, no"
    raise ValueError(f"choose one of: {choices}")


def view_action_body(view: Mapping[str, Any], action: Mapping[str, Any], user: Any) -> str:
    """A `block_actions` payload from inside a modal (what Slack sends for `dispatch_action`)."""
    payload = {
        "type": "block_actions",
        "team": {"id": user.team_id, "domain": "example"},
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id},
        "api_app_id": "A0INVOICEBOT",
        "token": "deprecated-verification-token",
        "container": {"type": "view", "view_id": view.get("id")},
        "trigger_id": f"{secrets.randbelow(10**12)}.{secrets.token_hex(8)}",
        "view": {"type": "modal", **view},
        "actions": [{"action_ts": f"{time.time():.6f}", **action}],
    }
    return urlencode({"payload": json.dumps(payload)})
