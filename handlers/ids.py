"""Every action, block and callback id of the Slack surface, in one place.

Slack echoes these ids back in every payload; keeping them in enums means a listener
and the block that produces its clicks cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    REVIEW_AND_SEND = "invoice_review_and_send"
    INVOICE_MENU = "invoice_menu"
    DUE_PREVIOUS = "due_previous_page"
    DUE_NEXT = "due_next_page"
    SEND_ALL_READY = "due_send_all_ready"


class MenuChoice(StrEnum):
    """The options of an invoice row's overflow menu."""

    PREVIEW_PDF = "preview_pdf"
    MARK_SENT = "mark_sent"
    VALIDATE = "validate"


class BlockId(StrEnum):
    DUE_ROW = "due_row"  # prefix: the row's actions block carries the listing it belongs to
    DUE_FOOTER = "due_footer"
    DUE_HEADER = "due_header"


COMMAND = "/invoices"
