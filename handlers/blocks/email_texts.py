"""The admins' *Email texts* modals (from the settings modal): the list, and the add/edit form.

Pure builders and the parser. The list shows Standard (the language's template, not editable
here) and every preset with *Edit* and *Delete*; a button's value names the text (name and
language) as JSON, read back as untrusted. The form's block ids are `BlockId.EMAIL_TEXT_*`,
so the service's `FieldErrors` (keyed name, language, subject, message) land on their input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from handlers.blocks.elements import Block, escape, plain_text, section
from handlers.blocks.review import LANGUAGE_NAMES, View, _modal, _option, _text_input
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.review_form import INPUT
from services.email.email_texts import STANDARD_TEXT, EmailTextEdit, PresetText
from services.errors import InvalidInput
from services.safe_json import UntrustedJsonError, load_untrusted_object

TITLE = "Email texts"
MAX_LISTED = 45  # two blocks each, under Slack's 100 per modal
FIELD_BLOCKS = {
    "name": BlockId.EMAIL_TEXT_NAME,
    "language": BlockId.EMAIL_TEXT_LANGUAGE,
    "subject": BlockId.EMAIL_TEXT_SUBJECT,
    "message": BlockId.EMAIL_TEXT_MESSAGE,
}


def text_ref(text: PresetText) -> str:
    return json.dumps({"n": text.name, "l": text.language}, separators=(",", ":"))


def parse_text_ref(raw: str | None) -> tuple[str, str]:
    """(name, language) from a button's value; InvalidInput for a forged or old one."""
    try:
        found = load_untrusted_object(raw or "")
    except UntrustedJsonError:
        found = {}
    name, language = found.get("n"), found.get("l")
    if not isinstance(name, str) or not isinstance(language, str):
        raise InvalidInput("This button is from an older version of invoicebot; open Email texts again.")
    return name, language


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": plain_text(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _delete_button(text: PresetText) -> dict[str, Any]:
    button = _button("Delete", ActionId.DELETE_EMAIL_TEXT, text_ref(text), style="danger")
    button["confirm"] = {
        "title": plain_text("Delete this text?"),
        "text": plain_text(f"“{text.name}” ({text.language}) will no longer be offered in the review.", 300),
        "confirm": plain_text("Delete"),
        "deny": plain_text("Keep it"),
    }
    return button


def texts_view(texts: Sequence[PresetText], *, notice: str | None = None) -> View:
    """The list: an outcome line (mrkdwn, escaped by the caller), *Add a text*, Standard, then each preset."""
    blocks: list[Block] = []
    if notice:
        blocks.append(section(notice, BlockId.EMAIL_TEXT_NOTICE))
    blocks += [
        {"type": "actions", "elements": [_button("Add a text", ActionId.ADD_EMAIL_TEXT, "new", style="primary")]},
        section(f"*{STANDARD_TEXT}* — each language's template (`invoicebot templates set`); always offered."),
    ]
    for index, text in enumerate(texts[:MAX_LISTED]):
        defaults = f"\nDefault for {escape(', '.join(text.default_for))}" if text.default_for else ""
        language = LANGUAGE_NAMES.get(text.language, text.language)
        blocks.append(section(f"*{escape(text.name)}* · {language}\n{escape(text.subject)}{defaults}"))
        buttons = [_button("Edit", ActionId.EDIT_EMAIL_TEXT, text_ref(text)), _delete_button(text)]
        blocks.append({"type": "actions", "block_id": f"email_text:{index}", "elements": buttons})
    if len(texts) > MAX_LISTED:
        blocks.append(section(f"…and {len(texts) - MAX_LISTED} more: `invoicebot texts list` shows them all."))
    return _modal(TITLE, blocks, close="Done")


def text_form_view(text: PresetText | None, *, list_view_id: str) -> View:
    """Add (`text` None) or edit one text; the templates use the variables of the README's "Email templates"."""
    languages = [_option(code, name) for code, name in LANGUAGE_NAMES.items()]
    chosen = next((o for o in languages if text and o["value"] == text.language), languages[0])
    blocks: list[Block] = [
        _text_input(BlockId.EMAIL_TEXT_NAME, "Name", text.name if text else "", hint="e.g. Friendly reminder"),
        {
            "type": "input",
            "block_id": BlockId.EMAIL_TEXT_LANGUAGE,
            "label": plain_text("Language"),
            "element": {"type": "static_select", "action_id": INPUT, "options": languages, "initial_option": chosen},
        },
        _text_input(
            BlockId.EMAIL_TEXT_SUBJECT,
            "Subject",
            text.subject if text else "",
            hint="A template: {{ invoice_number }}, {{ customer_name }}, {{ amount }}, {{ due_date }} …",
        ),
        _text_input(BlockId.EMAIL_TEXT_MESSAGE, "Message", text.message if text else "", multiline=True),
    ]
    title = "Edit email text" if text else "Add email text"
    metadata = json.dumps({"list": list_view_id}, separators=(",", ":"))
    return _modal(title, blocks, callback_id=CallbackId.EMAIL_TEXT, metadata=metadata, submit="Save", close="Back")


def list_view_id_of(view: Mapping[str, Any]) -> str:
    try:
        found = load_untrusted_object(str(view.get("private_metadata") or ""))
    except UntrustedJsonError:
        return ""
    return str(found.get("list") or "")


def parse_text_form(view: Mapping[str, Any]) -> EmailTextEdit:
    values = (view.get("state") or {}).get("values") or {}

    def typed(block_id: str) -> str:
        return str(((values.get(block_id) or {}).get(INPUT) or {}).get("value") or "")

    language = ((values.get(BlockId.EMAIL_TEXT_LANGUAGE) or {}).get(INPUT) or {}).get("selected_option") or {}
    return EmailTextEdit(
        name=typed(BlockId.EMAIL_TEXT_NAME),
        language=str(language.get("value") or ""),
        subject=typed(BlockId.EMAIL_TEXT_SUBJECT),
        message=typed(BlockId.EMAIL_TEXT_MESSAGE),
    )


def errors_on_blocks(errors: Mapping[str, str]) -> dict[str, str]:
    """The service's field names → this form's block ids; anything else lands on the name."""
    return {str(FIELD_BLOCKS.get(field, BlockId.EMAIL_TEXT_NAME)): sentence for field, sentence in errors.items()}
