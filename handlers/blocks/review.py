"""The review-and-send modal as Block Kit: pure functions of a `ReviewForm`.

Slack's modal limits hold here: title, submit and close at most 24 characters,
`private_metadata` the invoice number only, far fewer than 100 blocks.
"""

from __future__ import annotations

from typing import Any

from handlers.blocks.elements import Block, escape, plain_text, section
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.review_form import INPUT, YES, ReviewForm, ReviewMetadata, message_block_id, subject_block_id
from services.db.models import Attachments
from services.languages import SUPPORTED_LANGUAGES
from services.sending.extra_files import MAX_EXTRA_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES, megabytes

View = dict[str, Any]
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "nl": "Nederlands",
    "es": "Español",
    "it": "Italiano",
}
ATTACHMENT_CHOICES = (
    (Attachments.PDF, "PDF"),
    (Attachments.UBL, "UBL (e-invoice XML)"),
    (Attachments.PDF_UBL, "PDF + UBL"),
)
MAX_TEXT_INPUT = 3000  # Slack's limit on a plain_text_input's value


def _option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": plain_text(label), "value": value}
    if description:
        option["description"] = plain_text(description, 150)
    return option


def _text_input(
    block_id: str, label: str, value: str, *, optional: bool = False, multiline: bool = False, hint: str | None = None
) -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT, "multiline": multiline}
    if value:
        element["initial_value"] = value[:MAX_TEXT_INPUT]
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain_text(hint, 2000)
    return block


def _checkbox(block_id: str, label: str, option: dict[str, Any], *, ticked: bool) -> Block:
    element: dict[str, Any] = {"type": "checkboxes", "action_id": INPUT, "options": [option]}
    if ticked:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, 2000),
        "element": element,
        "optional": True,
    }


def _modal(
    title: str,
    blocks: list[Block],
    *,
    callback_id: str | None = None,
    metadata: str = "",
    submit: str | None = None,
    close: str = "Close",
) -> View:
    view: View = {
        "type": "modal",
        "title": plain_text(title, 24),
        "close": plain_text(close, 24),
        "blocks": blocks[:100],
    }
    if callback_id:
        view["callback_id"] = callback_id
    if metadata:
        view["private_metadata"] = metadata[:3000]
    if submit:
        view["submit"] = plain_text(submit, 24)
    return view


def loading_view(title: str = "Send invoice") -> View:
    """Opened at once, while the trigger id is still alive; the full view replaces it."""
    return _modal(title, [section("⏳ Loading…")])


def working_view(title: str, text: str) -> View:
    """The answer to a submission while its work goes on after the ack (handlers.after_ack)."""
    return _modal(title, [section(f"⏳ {text}")])


def message_view(title: str, text: str) -> View:
    """A modal that only says something: an outcome, or why the form cannot be shown."""
    return _modal(title, [section(text)], close="Done")


def warnings_text(form: ReviewForm) -> str | None:
    lines = [escape(form.last_email)] if form.last_email else []
    lines += [f"⚠️ {escape(problem)}" for problem in form.problems]
    if form.recent:
        lines.append(f"🔁 {escape(form.recent, keep_user_mentions=True)}")  # quotes the invoice number
    lines.extend(f"🚫 {escape(sentence)}" for sentence in form.suppressed)
    if form.approval_reason:
        lines.append(f"🛂 An approver will be asked: {escape(form.approval_reason)}")
    return "\n".join(lines) or None


def text_select(form: ReviewForm) -> Block:
    """The preset email texts of the language (Standard first): choosing one replaces subject and message."""
    options = [_option(name, name) for name in form.texts[:100]]
    chosen = next((o for o in options if o["value"] == form.text), options[0])
    return {
        "type": "input",
        "block_id": BlockId.REVIEW_TEXT,
        "dispatch_action": True,  # choosing a text re-renders subject and message
        "label": plain_text("Text"),
        "hint": plain_text("Choosing a text replaces the subject and message below, edits included."),
        "element": {
            "type": "static_select",
            "action_id": ActionId.REVIEW_TEXT,
            "options": options,
            "initial_option": chosen,
        },
    }


def review_view(form: ReviewForm, *, metadata: ReviewMetadata) -> View:
    """The filled modal: warnings first, then every field prefilled with what is (or was) typed."""
    blocks: list[Block] = [
        section(f"*{escape(form.invoice_number)}* · {escape(form.customer_name)} · *{form.amount}*"),
    ]
    warnings = warnings_text(form)
    if warnings:
        blocks.append(section(warnings, BlockId.REVIEW_NOTICE))
    if form.recent:
        blocks.append(
            _checkbox(
                BlockId.REVIEW_RESEND,
                "Already sent or being sent",
                _option(YES, "Send again anyway"),
                ticked=form.confirm_resend,
            )
        )
    blocks += [
        _text_input(BlockId.REVIEW_TO, "To", form.to, hint="Email addresses, separated by commas"),
        _text_input(BlockId.REVIEW_CC, "Cc", form.cc, optional=True),
        _text_input(BlockId.REVIEW_BCC, "Bcc", form.bcc, optional=True),
    ]
    languages = [_option(code, LANGUAGE_NAMES.get(code, code)) for code in SUPPORTED_LANGUAGES]
    chosen = next((o for o in languages if o["value"] == form.language), languages[0])
    blocks.append(
        {
            "type": "input",
            "block_id": BlockId.REVIEW_LANGUAGE,
            "dispatch_action": True,  # choosing a language re-renders subject and message
            "label": plain_text("Language"),
            "element": {
                "type": "static_select",
                "action_id": ActionId.REVIEW_LANGUAGE,
                "options": languages,
                "initial_option": chosen,
            },
        }
    )
    if len(form.texts) > 1:
        blocks.append(text_select(form))
    blocks += [
        _text_input(subject_block_id(form.language, form.text), "Subject", form.subject),
        _text_input(message_block_id(form.language, form.text), "Message", form.message, multiline=True),
    ]
    attachments = [_option(value.value, label) for value, label in ATTACHMENT_CHOICES]
    attached = next((o for o in attachments if o["value"] == form.attachments), attachments[0])
    blocks.append(
        {
            "type": "input",
            "block_id": BlockId.REVIEW_ATTACHMENTS,
            "label": plain_text("Attach"),
            "element": {
                "type": "radio_buttons",
                "action_id": INPUT,
                "options": attachments,
                "initial_option": attached,
            },
        }
    )
    blocks.append(extra_files_input())
    blocks.append(
        _checkbox(
            BlockId.REVIEW_OPTIONS,
            "Preview",
            _option(YES, "Send me a preview first", "A copy goes to your own email address"),
            ticked=form.preview_first,
        )
    )
    blocks.append(
        _checkbox(
            BlockId.REVIEW_NOTES,
            "Notes",
            _option(YES, "Show notes on the invoice page", "Internal notes are never shown to the customer"),
            ticked=form.show_notes,
        )
    )
    if form.suppressed:
        reasons = "; ".join(form.suppressed)
        blocks.append(
            _checkbox(
                BlockId.REVIEW_OVERRIDE,
                "Suppressed address",
                _option(YES, "Send to the suppressed address anyway", reasons),
                ticked=form.override_suppression,
            )
        )
    return _modal(
        "Send invoice", blocks, callback_id=CallbackId.REVIEW, metadata=metadata.encode(), submit="Send", close="Cancel"
    )


def extra_files_input() -> Block:
    """Slack's file_input; its extension list is a convenience only: the bytes decide (services.sending.extra_files)."""
    return {
        "type": "input",
        "block_id": BlockId.REVIEW_FILES,
        "optional": True,
        "label": plain_text("Extra attachments"),
        "hint": plain_text(
            f"Up to {MAX_EXTRA_FILES} files, {megabytes(MAX_FILE_BYTES)} each and {megabytes(MAX_TOTAL_BYTES)} "
            "in all: PDF, PNG, JPEG, text/CSV, Excel, Word or OpenDocument. Sent after the invoice.",
            2000,
        ),
        "element": {
            "type": "file_input",
            "action_id": INPUT,
            "max_files": MAX_EXTRA_FILES,
            "filetypes": ["pdf", "png", "jpg", "jpeg", "txt", "csv", "xlsx", "docx", "odt", "ods"],
        },
    }


def queued_words(invoice_number: str, *, awaiting_approval: bool, approvers: list[str], preview: bool) -> str:
    """What the person reads once the send is asked for."""
    if awaiting_approval:
        who = ", ".join(f"<@{user}>" for user in approvers[:10]) or "an approver"
        text = f"✋ *{escape(invoice_number)}* is waiting for approval by {who}. It goes out once approved."
    else:
        text = f"✅ *{escape(invoice_number)}* is queued: it goes out in a moment."
    if preview:
        text += "\n📬 A preview is on its way to your email address."
    return text + "\nThe notification channel follows what happens to the email."
