"""The settings modal (`/invoices settings`, App Home's *Settings*): pure builders and the parser.

One modal with a section per subject (roles, approval, channels, sender, legal details,
bank details, defaults, copies): under 40 inputs, well inside Slack's 100 blocks. Each input's block id is
`set_<field>` for the field of `services.invoicing.settings.SettingsForm` it edits, so the
service's `FieldErrors` (keyed by field) land on the right input. Slack has no user-group
select, so a role's groups are a multi-select of the workspace's groups (`usergroups.list`)
next to its users select; a group grants the role to its members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.blocks.elements import Block, plain_text, section
from handlers.blocks.review import LANGUAGE_NAMES, View, _checkbox, _modal, _option, _text_input
from handlers.ids import ActionId, CallbackId
from handlers.review_form import INPUT, YES
from services.authorization import ApprovalPolicy
from services.invoicing.schedule_settings import WEEKDAYS
from services.invoicing.settings import GROUP_ID, SettingsForm

TITLE = "Settings"
ROLES = (("senders", "Senders"), ("approvers", "Approvers"), ("admins", "Admins"))
POLICIES = (
    (ApprovalPolicy.NEVER, "Never: senders send"),
    (ApprovalPolicy.ABOVE_AMOUNT, "Above the threshold"),
    (ApprovalPolicy.ALWAYS, "Always"),
)
TEXT_FIELDS = {  # field: (label, optional, hint)
    "approval_threshold": ("Threshold (invoice total, strictly above asks)", False, None),
    "sender_name": ("From name", True, "Empty: the legal name"),
    "sender_email": ("From address", False, None),
    "reply_to": ("Reply-To", True, None),
    "bounce_domain": ("Bounce domain", True, "Empty: the From address's domain"),
    "legal_name": ("Legal name", False, None),
    "street": ("Street", True, None),
    "additional": ("Additional address line", True, None),
    "city": ("City", True, None),
    "postal_code": ("Postal code", True, None),
    "subdivision": ("Region / state", True, None),
    "country": ("Country code", False, "ISO 3166, like GB, DE, FR"),
    "tax_id": ("VAT number", True, "Checked against the country's VAT number format"),
    "default_currency": ("Default currency", False, "ISO 4217, like EUR"),
    "iban": ("IBAN", True, "Printed on invoices with the payment reference; EUR invoices get a SEPA QR code"),
    "bic": ("BIC", True, "The bank's SWIFT code, 8 or 11 characters"),
    "account_holder": ("Account holder", True, "Empty: the legal name"),
    "cc": ("Cc on every send", True, "The organisation's own addresses, comma-separated (e.g. the archive)"),
    "bcc": ("Bcc on every send", True, "Comma-separated"),
    "silent_after_provider_hours": ("Via a provider with webhooks (hours)", False, "0: off. Default 24"),
    "silent_after_smtp_hours": ("Via our own SMTP relay (hours)", False, "0: off. Default 72"),
    "reminder_ladder": (
        "Reminder ladder",
        True,
        "Days from the due date and a tone, an optional fee: -3 friendly, 0 neutral, +7 firm fee 15.00. "
        "Empty: the built-in -3 friendly, 0 friendly, +7 neutral, +14 firm, +30 firm",
    ),
    "time_zone": ("Time zone", False, "IANA name, like Europe/Brussels: the organisation's today and hours"),
    "send_window": ("Send window", False, "When reminders and autosend may leave, like Mon-Fri 09:00-17:00"),
    "holiday_country": ("Closed on the public holidays of", True, "A country code, like BE; empty: none"),
    "preview_lead": ("Preview lead (minutes)", False, "The channel hears what goes out this long before; 0: at once"),
}
DIGEST_HOURS = (("off", "Off"), *((str(hour), f"{hour:02d}:00") for hour in range(24)))
SUMMARY_DAYS = tuple((day, day.capitalize()) for day in WEEKDAYS)
LIST_FIELDS = ("cc", "bcc")


def block_id(field: str) -> str:
    return f"set_{field}"


def groups_block(role: str) -> str:
    return block_id(f"{role}_groups")


def _users_select(role: str, label: str, users: Sequence[str]) -> Block:
    element: dict[str, Any] = {"type": "multi_users_select", "action_id": INPUT}
    chosen = [user for user in users if not GROUP_ID.match(user)]
    if chosen:
        element["initial_users"] = chosen
    return {
        "type": "input",
        "block_id": block_id(role),
        "label": plain_text(label),
        "element": element,
        "optional": True,
    }


def _groups_select(role: str, label: str, listed: Sequence[str], groups: Mapping[str, str]) -> Block | None:
    chosen = [entry for entry in listed if GROUP_ID.match(entry)]
    names = {**{group: group for group in chosen}, **groups}
    if not names:
        return None
    options = [_option(group, f"@{name}") for group, name in list(names.items())[:100]]
    element: dict[str, Any] = {"type": "multi_static_select", "action_id": INPUT, "options": options}
    initial = [option for option in options if option["value"] in chosen]
    if initial:
        element["initial_options"] = initial
    return {
        "type": "input",
        "block_id": groups_block(role),
        "label": plain_text(f"{label}: user groups"),
        "element": element,
        "optional": True,
        "hint": plain_text("A group gives the role to its members", 150),
    }


def _static_select(field: str, label: str, choices: Sequence[tuple[str, str]], value: str) -> Block:
    options = [_option(str(choice), text) for choice, text in choices]
    element: dict[str, Any] = {"type": "static_select", "action_id": INPUT, "options": options}
    initial = [option for option in options if option["value"] == value]
    if initial:
        element["initial_option"] = initial[0]
    return {"type": "input", "block_id": block_id(field), "label": plain_text(label), "element": element}


def _channel_select(field: str, label: str, channel: str | None, hint: str) -> Block:
    element: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": INPUT,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if channel:
        element["initial_conversation"] = channel
    return {
        "type": "input",
        "block_id": block_id(field),
        "label": plain_text(label),
        "element": element,
        "optional": True,
        "hint": plain_text(hint, 150),
    }


def _text(form: SettingsForm, field: str) -> Block:
    label, optional, hint = TEXT_FIELDS[field]
    value = getattr(form, field)
    shown = ", ".join(value) if field in LIST_FIELDS else (value or "")
    return _text_input(block_id(field), label, shown, optional=optional, hint=hint)


def settings_view(form: SettingsForm, *, groups: Mapping[str, str]) -> View:
    """The modal, filled with `form`; `groups`: the workspace's user groups, id → handle."""
    blocks: list[Block] = [section("*Roles* — no senders listed: everyone may send; no approvers: the admins approve.")]
    for role, label in ROLES:
        listed: Sequence[str] = getattr(form, role)
        blocks.append(_users_select(role, label, listed))
        group_block = _groups_select(role, label, listed, groups)
        if group_block is not None:
            blocks.append(group_block)
    blocks += [
        section("*Approval*"),
        _static_select("approval_policy", "Ask an approver", POLICIES, form.approval_policy),
        _text(form, "approval_threshold"),
        _checkbox(
            block_id("approve_new_recipients"),
            "Risk rule",
            _option(YES, "Ask when a send goes to a new domain or changed recipients"),
            ticked=form.approve_new_recipients,
        ),
        section("*Channels* — the bot must be a member: `/invite @invoicebot` in the channel."),
        _channel_select("notify_channel", "Status and alerts", form.notify_channel, "Where sends are followed"),
        _channel_select("approvers_channel", "Approval requests", form.approvers_channel, "Empty: the channel above"),
        section("*Sender*"),
        *(_text(form, name) for name in ("sender_name", "sender_email", "reply_to", "bounce_domain")),
        section("*Legal details* (printed on invoices)"),
        *(_text(form, name) for name in ("legal_name", "street", "additional", "city", "postal_code", "subdivision")),
        *(_text(form, name) for name in ("country", "tax_id")),
        section("*Bank details* (printed on invoices, in the payment QR code and the e-invoice)"),
        *(_text(form, name) for name in ("iban", "bic", "account_holder")),
        section("*Defaults*"),
        _static_select("default_language", "Language", tuple(LANGUAGE_NAMES.items()), form.default_language),
        _text(form, "default_currency"),
        section("*Daily digest* — posted in the status channel at this hour; the weekly summary on its day."),
        _text(form, "time_zone"),
        _static_select("digest_hour", "Digest hour", DIGEST_HOURS, form.digest_hour),
        _static_select("weekly_summary_day", "Weekly summary day", SUMMARY_DAYS, form.weekly_summary_day),
        section("*Scheduled mail* — reminders and autosend leave only inside this window, in the time zone above."),
        _text(form, "send_window"),
        _text(form, "holiday_country"),
        _text(form, "preview_lead"),
        _checkbox(
            block_id("autosend"),
            "Autosend",
            _option(YES, "Send validated invoices on their issue date without a click (approval still applies)"),
            ticked=form.autosend,
        ),
        section("*Reminders* — the organisation's ladder; a customer's own: `invoicebot reminders ladder set`."),
        _text(form, "reminder_ladder"),
        section("*Copies of every send*"),
        _text(form, "cc"),
        _text(form, "bcc"),
        section("*Silent emails* — alert in the thread when an accepted email has no news after:"),
        _text(form, "silent_after_provider_hours"),
        _text(form, "silent_after_smtp_hours"),
    ]
    blocks.append(email_texts_button())
    return _modal(TITLE, blocks, callback_id=CallbackId.SETTINGS, submit="Save", close="Cancel")


def email_texts_button() -> Block:
    """Opens the preset email texts (handlers.email_texts) over this modal, which keeps what was typed."""
    button = {"type": "button", "text": plain_text("Email texts"), "action_id": ActionId.OPEN_EMAIL_TEXTS}
    return {"type": "actions", "block_id": "set_email_texts", "elements": [{**button, "value": "open"}]}


def _value(state: Mapping[str, Any], field: str) -> Any:
    element = (state.get(block_id(field)) or {}).get(INPUT) or {}
    kind = element.get("type")
    if kind in ("multi_users_select",):
        return list(element.get("selected_users") or [])
    if kind == "multi_static_select":
        return [option.get("value", "") for option in element.get("selected_options") or []]
    if kind == "static_select":
        return (element.get("selected_option") or {}).get("value") or ""
    if kind == "checkboxes":
        return [option.get("value", "") for option in element.get("selected_options") or []]
    if kind == "conversations_select":
        return element.get("selected_conversation") or None
    return element.get("value") or ""


def parse_settings(view: Mapping[str, Any]) -> SettingsForm:
    """The submitted modal as a `SettingsForm` (group members not yet known: Slack is asked next)."""
    state: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    values: dict[str, Any] = {
        role: tuple(_value(state, role)) + tuple(_value(state, f"{role}_groups") or ()) for role, _ in ROLES
    }
    values.update({field: str(_value(state, field)).strip() for field in TEXT_FIELDS if field not in LIST_FIELDS})
    values["reminder_ladder"] = values["reminder_ladder"] if block_id("reminder_ladder") in state else None
    values.update(
        {field: tuple(part.strip() for part in str(_value(state, field)).split(",")) for field in LIST_FIELDS}
    )
    values.update(
        approval_policy=str(_value(state, "approval_policy")),
        default_language=str(_value(state, "default_language")) or "en",
        notify_channel=_value(state, "notify_channel"),
        approvers_channel=_value(state, "approvers_channel"),
        approve_new_recipients=bool(_value(state, "approve_new_recipients")),
        autosend=bool(_value(state, "autosend")),
        digest_hour=str(_value(state, "digest_hour")),
        weekly_summary_day=str(_value(state, "weekly_summary_day")) or "monday",
    )
    return SettingsForm(**values)


def errors_on_blocks(errors: Mapping[str, str]) -> dict[str, str]:
    """The service's field errors keyed by the modal's block ids (each clipped to Slack's limit)."""
    return {block_id(field): message[:300] for field, message in errors.items()}


def saved_words(changes: Mapping[str, object]) -> str:
    if not changes:
        return "Nothing changed."
    names = ", ".join(sorted(name.replace("_", " ") for name in changes))
    return f"✅ Saved: {names}. The change applies now, everywhere (no restart)."
