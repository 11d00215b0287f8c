"""The review modal's state: what it shows, and what a submission or a language switch carries.

`ReviewForm` is the modal as plain data (the values as typed plus the warnings), so the
modal can be rebuilt from a submission without losing a character. Block ids of the
subject and message carry the language: Slack keeps what was typed in an input whose
block id does not change across `views.update`, so a language switch must change them
for the re-rendered wording to appear.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from handlers.ids import ActionId, BlockId
from services.db.models import Attachments
from services.email.email_texts import STANDARD_TEXT, is_standard
from services.errors import InvalidInput
from services.invoicing.states import InvoiceState
from services.safe_json import UntrustedJsonError, load_untrusted_object
from services.sending.review import ReviewDraft

INPUT = "input"  # the action id of every text field of the modal
YES = "yes"  # the value of a ticked checkbox


@dataclass(frozen=True)
class ReviewMetadata:
    """The modal's `private_metadata`: the invoice number only — no recipients, no secrets."""

    invoice_number: str

    def encode(self) -> str:
        return json.dumps({"n": self.invoice_number}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> ReviewMetadata:
        try:
            number = load_untrusted_object(raw or "")["n"]
        except (UntrustedJsonError, KeyError):
            number = None
        if not isinstance(number, str):  # forged or from an older version: a sentence, never a 500
            raise InvalidInput("This form is from an older version of invoicebot; press Review & send again.")
        return cls(invoice_number=number)


@dataclass(frozen=True)
class ReviewForm:
    invoice_number: str
    customer_name: str
    amount: str
    to: str  # addresses, comma-separated, as typed
    cc: str
    bcc: str
    subject: str
    message: str
    language: str
    attachments: str
    preview_first: bool = False
    override_suppression: bool = False
    confirm_resend: bool = False
    show_notes: bool = True
    problems: tuple[str, ...] = ()
    suppressed: tuple[str, ...] = ()  # one sentence per suppressed address
    recent: str | None = None  # "INV-1 was sent 4 minutes ago by <@U1> — send again?"
    last_email: str | None = None  # "❌ Not received: bounced to ap@x: …" when the last email did not arrive
    approval_reason: str | None = None  # "new domain example.org for ACME": why an approver will be asked
    text: str = STANDARD_TEXT  # the preset email text the subject and message came from
    texts: tuple[str, ...] = (STANDARD_TEXT,)  # the presets of the language; the select shows when there are more

    @classmethod
    def from_draft(cls, draft: ReviewDraft, *, recent: str | None) -> ReviewForm:
        return cls(
            invoice_number=draft.invoice_number,
            customer_name=draft.customer_name,
            amount=draft.amount,
            to=", ".join(draft.to),
            cc=", ".join(draft.cc),
            bcc=", ".join(draft.bcc),
            subject=draft.subject,
            message=draft.message,
            language=draft.language,
            attachments=Attachments(draft.attachments).value,
            problems=tuple(p.message for p in draft.problems),
            suppressed=tuple(s.message for s in draft.suppressed),
            recent=recent,
            approval_reason=draft.approval_reason,
            last_email=draft.state.line if draft.state and draft.state.state == InvoiceState.NOT_RECEIVED else None,
            text=draft.text,
            texts=draft.texts,
        )

    def typed(self, submitted: SubmittedReview) -> ReviewForm:
        """This form with what the person typed (used to rebuild the modal without losing it)."""
        return replace(
            self,
            to=submitted.to,
            cc=submitted.cc,
            bcc=submitted.bcc,
            attachments=submitted.attachments,
            preview_first=submitted.preview_first,
            override_suppression=submitted.override_suppression,
            confirm_resend=submitted.confirm_resend,
            show_notes=submitted.show_notes,
        )


def _wording_key(language: str, text: str) -> str:
    """`en`, or `en.<hash>` for a preset: a new key per wording, so Slack shows the new initial values."""
    if not text or is_standard(text):
        return language
    return f"{language}.{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def subject_block_id(language: str, text: str = "") -> str:
    return f"{BlockId.REVIEW_SUBJECT}.{_wording_key(language, text)}"


def message_block_id(language: str, text: str = "") -> str:
    return f"{BlockId.REVIEW_MESSAGE}.{_wording_key(language, text)}"


@dataclass(frozen=True)
class SubmittedReview:
    """What the modal held when submitted (or when the language was switched)."""

    to: str
    cc: str
    bcc: str
    subject: str
    message: str
    language: str
    attachments: str
    preview_first: bool
    override_suppression: bool
    confirm_resend: bool
    text: str = ""  # the preset text selected ("" when the modal had no select: the customer's default applies)
    show_notes: bool = True
    file_ids: tuple[str, ...] = ()  # extra attachments: Slack file ids, in the order picked


def _by_prefix(values: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    for block_id, actions in values.items():
        if block_id == prefix or block_id.startswith(prefix + "."):
            return actions if isinstance(actions, Mapping) else {}
    return {}


def _text(values: Mapping[str, Any], prefix: str) -> str:
    return str((_by_prefix(values, prefix).get(INPUT) or {}).get("value") or "")


def _ticked(values: Mapping[str, Any], prefix: str) -> bool:
    selected = (_by_prefix(values, prefix).get(INPUT) or {}).get("selected_options") or []
    return any(option.get("value") == YES for option in selected)


def _ticked_unless_absent(values: Mapping[str, Any], prefix: str) -> bool:
    """A box ticked by default: an older modal without it keeps the default."""
    return _ticked(values, prefix) or not _by_prefix(values, prefix)


def parse_review_state(view: Mapping[str, Any]) -> SubmittedReview:
    values = (view.get("state") or {}).get("values") or {}
    language_state = _by_prefix(values, BlockId.REVIEW_LANGUAGE).get(ActionId.REVIEW_LANGUAGE) or {}
    attachments_state = _by_prefix(values, BlockId.REVIEW_ATTACHMENTS).get(INPUT) or {}
    text_state = _by_prefix(values, BlockId.REVIEW_TEXT).get(ActionId.REVIEW_TEXT) or {}
    return SubmittedReview(
        to=_text(values, BlockId.REVIEW_TO),
        cc=_text(values, BlockId.REVIEW_CC),
        bcc=_text(values, BlockId.REVIEW_BCC),
        subject=_text(values, BlockId.REVIEW_SUBJECT),
        message=_text(values, BlockId.REVIEW_MESSAGE),
        language=str((language_state.get("selected_option") or {}).get("value") or "en"),
        attachments=str((attachments_state.get("selected_option") or {}).get("value") or Attachments.PDF.value),
        preview_first=_ticked(values, BlockId.REVIEW_OPTIONS),
        override_suppression=_ticked(values, BlockId.REVIEW_OVERRIDE),
        confirm_resend=_ticked(values, BlockId.REVIEW_RESEND),
        text=str((text_state.get("selected_option") or {}).get("value") or ""),
        show_notes=_ticked_unless_absent(values, BlockId.REVIEW_NOTES),
        file_ids=_file_ids(values),
    )


def _file_ids(values: Mapping[str, Any]) -> tuple[str, ...]:
    files = (_by_prefix(values, BlockId.REVIEW_FILES).get(INPUT) or {}).get("files") or []
    return tuple(str(f["id"]) for f in files if isinstance(f, Mapping) and isinstance(f.get("id"), str))


def block_ids_of(view: Mapping[str, Any]) -> set[str]:
    return {str(block.get("block_id")) for block in view.get("blocks") or [] if block.get("block_id")}
