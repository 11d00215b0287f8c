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
    SENT_PREVIOUS = "sent_previous_page"  # `/invoices sent`: paging; the value carries the filter and page
    SENT_NEXT = "sent_next_page"
    SEND_ALL_READY = "due_send_all_ready"
    APPROVE_DELIVERY = "delivery_approve"
    REJECT_DELIVERY = "delivery_reject"
    REVIEW_LANGUAGE = "review_language"  # dispatch_action on the language select re-renders the modal
    REVIEW_TEXT = "review_text"  # dispatch_action on the preset text select: its subject and message replace the typed
    # The buttons of a delivery alert (bounce, failure …) in the notification channel.
    FIX_ADDRESS_AND_RESEND = "alert_fix_address_and_resend"
    MARK_SENT_MANUALLY = "alert_mark_sent_manually"
    OPEN_INVOICE = "alert_open_invoice"
    REVOKE_LINK = "invoice_revoke_link"  # `/invoices show`: withdraw the customer's invoice link
    OPEN_SETTINGS = "home_open_settings"  # App Home's *Settings* button (admins)
    CANCEL_DELIVERY = "delivery_cancel"  # *Cancel* on a send's status message, until the worker takes it
    SHOW_HISTORY = "invoice_show_history"  # `/invoices show`: the invoice's audit trail
    VIEW_SENT_EMAIL = "invoice_view_sent_email"  # `/invoices show`: the latest email as sent
    RECORD_PAYMENT = "invoice_record_payment"  # opens the *Record payment* modal; its value is the number
    # The preset email texts (handlers.email_texts): the settings modal's button, then the list's buttons.
    OPEN_EMAIL_TEXTS = "settings_open_email_texts"
    ADD_EMAIL_TEXT = "email_text_add"
    EDIT_EMAIL_TEXT = "email_text_edit"  # value: the text's name and language (untrusted JSON)
    DELETE_EMAIL_TEXT = "email_text_delete"
    # `/invoices customer NAME` (handlers.reminders): values carry the customer's ref (Lift: the invoice number).
    CUSTOMER_PAUSE = "customer_pause_reminders"
    CUSTOMER_RESUME = "customer_resume_reminders"
    CUSTOMER_PROMISE = "customer_promise_to_pay"
    CUSTOMER_DISPUTE = "customer_mark_disputed"
    CUSTOMER_LIFT_DISPUTE = "customer_lift_dispute"
    CUSTOMER_INVOICE_REMINDERS = "customer_invoice_reminders"  # one invoice's reminders on or off
    # The send window's preview in the channel (handlers.window_preview); the value is the local day.
    PREVIEW_REVIEW = "window_preview_review"
    PREVIEW_SKIP_TODAY = "window_preview_skip_today"


class MenuChoice(StrEnum):
    """The options of an invoice row's overflow menu."""

    PREVIEW_PDF = "preview_pdf"
    MARK_SENT = "mark_sent"
    VALIDATE = "validate"
    RECORD_PAYMENT = "record_payment"  # opens the *Record payment* modal (handlers.payments)


class BlockId(StrEnum):
    DUE_ROW = "due_row"  # prefix: the row's actions block carries the listing it belongs to
    DUE_FOOTER = "due_footer"
    DUE_HEADER = "due_header"
    SENT_FOOTER = "sent_footer"  # `/invoices sent`: ◀ Previous / Next ▶
    FIND_ROW = "find_row"  # prefix: `/invoices find`: one result's buttons (History, Revoke link, Record payment)
    APPROVAL_ACTIONS = "approval_actions"
    DELIVERY_CANCEL = "delivery_cancel"  # prefix: the status message's *Cancel* block carries the send's id
    REJECT_REASON = "reject_reason"  # the *Reject* modal's required reason
    # The review modal: Slack returns typed values keyed by these, and inline errors use them.
    REVIEW_NOTICE = "review_notice"
    REVIEW_TO = "review_to"
    REVIEW_CC = "review_cc"
    REVIEW_BCC = "review_bcc"
    REVIEW_SUBJECT = "review_subject"
    REVIEW_MESSAGE = "review_message"
    REVIEW_LANGUAGE = "review_language"
    REVIEW_TEXT = "review_text"  # the preset email text (services.email.email_texts)
    REVIEW_ATTACHMENTS = "review_attachments"
    REVIEW_FILES = "review_files"  # extra attachments (file_input)
    REVIEW_OPTIONS = "review_options"  # "send me a preview first"
    REVIEW_OVERRIDE = "review_override"  # send to a suppressed address anyway
    REVIEW_RESEND = "review_resend"  # send again although it was sent recently
    REVIEW_NOTES = "review_notes"  # "Show notes on the invoice page"
    BULK_LIST = "bulk_list"
    DELIVERY_ALERT = "delivery_alert"  # prefix: the alert's actions block carries its delivery id
    FIX_EMAILS = "fix_emails"  # the customer's addresses in the *Fix address & resend* modal
    INVOICE_LINK_ACTIONS = "invoice_link_actions"  # `/invoices show`: the *Revoke link* button
    INVOICE_HISTORY_ACTIONS = "invoice_history_actions"  # `/invoices show`: the *History* button
    INVOICE_SENT_EMAIL_ACTIONS = "invoice_sent_email_actions"  # `/invoices show`: *View email as sent*
    FIX_CC = "fix_cc"  # the resend's Cc, as the failed send had it, editable
    FIX_OVERRIDE = "fix_override"  # send to a suppressed address anyway
    FIX_RESEND = "fix_resend"  # send again although it was sent recently or may have arrived
    FIX_NOTICE = "fix_notice"  # what stopped the last submission, said after the ack
    PAYMENT_ACTIONS = "payment_actions"  # `/invoices show`: the *Record payment* button
    PAYMENT_AMOUNT = "payment_amount"  # the *Record payment* modal's fields
    PAYMENT_DATE = "payment_date"
    PAYMENT_REFERENCE = "payment_reference"
    EMAIL_TEXT_NOTICE = "email_text_notice"  # the list's outcome line (deleted, refused)
    EMAIL_TEXT_NAME = "email_text_name"  # the text modal's fields
    EMAIL_TEXT_LANGUAGE = "email_text_language"
    EMAIL_TEXT_SUBJECT = "email_text_subject"
    EMAIL_TEXT_MESSAGE = "email_text_message"
    CUSTOMER_ACTIONS = "customer_actions"  # `/invoices customer`: Pause / Resume / Promise / Mark disputed
    CUSTOMER_INVOICE = "customer_invoice"  # prefix: one open invoice's row (its *Lift dispute* button)
    PAUSE_UNTIL = "pause_until"  # the modals' fields
    STOP_INVOICE = "stop_invoice"  # which open invoice a promise or a dispute is about
    PROMISE_UNTIL = "promise_until"
    DISPUTE_REASON = "dispute_reason"
    PREVIEW_ACTIONS = "window_preview_actions"  # the preview's *Review* / *Skip today*


class CallbackId(StrEnum):
    """Modal callback ids: which view_submission listener a submitted modal reaches."""

    REVIEW = "review_send"
    BULK = "bulk_send"
    FIX_ADDRESS = "fix_address_resend"
    SETTINGS = "organisation_settings"  # `/invoices settings`, App Home's *Settings*
    REJECT = "approval_reject"  # *Reject* on an approval request: the reason
    PAYMENT = "record_payment"  # the *Record payment* modal; private_metadata is the invoice number
    EMAIL_TEXT = "email_text"  # add / edit one preset email text; private_metadata is the list view's id
    # `/invoices customer` modals; private_metadata is the customer's ref (untrusted: looked up again).
    PAUSE_REMINDERS = "customer_pause"
    PROMISE_TO_PAY = "customer_promise"
    MARK_DISPUTED = "customer_dispute"
    PREVIEW_REVIEW = "window_preview_review"  # the preview's *Review*; private_metadata: day, channel, ts (JSON)


COMMAND = "/invoices"
