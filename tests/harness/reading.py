"""What a person reads: the texts of blocks, a modal's inputs and what Slack would submit, channel messages.

Tests assert on these rather than on raw JSON, so a layout change that keeps the words keeps the tests.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from handlers.ids import BlockId
from tests.harness.slack import CHANNEL


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """What a person reads, block by block (sections, headers, context lines)."""
    read = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            read.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                read.append(element["text"])
    return read


def block_texts(blocks: list[dict[str, Any]]) -> str:
    """Every text of a message, one a line: sections and any element whose text is a string."""
    found: list[str] = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                found.append(element["text"])
    return "\n".join(found)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    """Every button and overflow by its label (or action id for overflows), with its block id."""
    found = {}
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found[element["text"]["text"]] = (element, block.get("block_id", ""))
            elif element.get("type") == "overflow":
                found.setdefault("menus", [])  # type: ignore[arg-type]
    return found


def row_menus(blocks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Each row's overflow menu with its block id."""
    return [
        (element, block["block_id"])
        for block in blocks
        for element in block.get("elements", [])
        if element.get("type") == "overflow"
    ]


def input_blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modal's inputs by block id, each as Slack draws it."""
    return {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}


def state_values(view: dict[str, Any], **typed: Any) -> dict[str, dict[str, Any]]:
    """`_typed_values`, and each file input's files (`typed[block prefix]`: a list of file ids, as
    FakeSlackApi.files.upload returns them; Slack sends the files' objects, the app reads their ids)."""
    files = {block_id: b for block_id, b in input_blocks(view).items() if b["element"]["type"] == "file_input"}
    prefixes = {block_id.split(".")[0] for block_id in files}
    values = _typed_values(view, **{k: v for k, v in typed.items() if k not in prefixes})
    for block_id, block in files.items():
        picked = [{"id": file_id} for file_id in typed.get(block_id.split(".")[0]) or []]
        values[block_id] = {block["element"]["action_id"]: {"type": "file_input", "files": picked}}
    return values


def _typed_values(view: dict[str, Any], **typed: Any) -> dict[str, dict[str, Any]]:
    """What Slack submits: each input's initial value, unless the person typed (`typed[block prefix]`).

    Text fields take a string; checkboxes take True/False; selects and radios take the option value;
    user and multi selects take a list; a conversation select takes a channel id (or "" for none).
    """
    values: dict[str, dict[str, Any]] = {}
    for block_id, block in input_blocks(view).items():
        element, prefix = block["element"], block_id.split(".")[0]
        given = typed.get(prefix)
        if element["type"] == "plain_text_input":
            value = given if given is not None else element.get("initial_value")
            values[block_id] = {element["action_id"]: {"type": "plain_text_input", "value": value}}
        elif element["type"] == "checkboxes":
            ticked = given if given is not None else bool(element.get("initial_options"))
            chosen = element["options"] if ticked else []
            values[block_id] = {element["action_id"]: {"type": "checkboxes", "selected_options": chosen}}
        elif element["type"] == "multi_users_select":
            users = given if given is not None else element.get("initial_users", [])
            values[block_id] = {element["action_id"]: {"type": "multi_users_select", "selected_users": list(users)}}
        elif element["type"] == "multi_static_select":
            chosen = element.get("initial_options", [])
            if given is not None:
                chosen = [o for o in element["options"] if o["value"] in given]
            values[block_id] = {element["action_id"]: {"type": "multi_static_select", "selected_options": chosen}}
        elif element["type"] == "datepicker":
            day = given if given is not None else element.get("initial_date")
            values[block_id] = {element["action_id"]: {"type": "datepicker", "selected_date": day}}
        elif element["type"] == "conversations_select":
            channel = given if given is not None else element.get("initial_conversation")
            values[block_id] = {
                element["action_id"]: {"type": "conversations_select", "selected_conversation": channel}
            }
        else:
            option = element.get("initial_option")
            if given is not None:
                [option] = [o for o in element["options"] if o["value"] == given]
            values[block_id] = {element["action_id"]: {"type": element["type"], "selected_option": option}}
    return values


def notice(view: dict[str, Any]) -> str:
    """The warnings at the top of the review modal (where a refusal after the ack is said)."""
    return "\n".join(texts([b for b in view["blocks"] if b.get("block_id") == "review_notice"]))


def fix_notice(view: dict[str, Any]) -> str:
    """What stopped the last *Fix address & resend* submission, at the top of the modal."""
    return "\n".join(b["text"]["text"] for b in view["blocks"] if b.get("block_id") == BlockId.FIX_NOTICE)


def channel_messages(fake_slack: FakeSlackApi, channel: str = CHANNEL) -> list[StoredMessage]:
    return fake_slack.messages.get(channel, [])
