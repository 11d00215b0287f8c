"""An organisation's settings as plain values, and the one place each field's rule lives.

Why in invoicing: the organisation is invoicing's (its legal details are on the invoice, the
PDF and the UBL), and every rule a setting needs is in the shared kernel (email addresses,
money, languages, postal address, VAT numbers, roles and the approval policy), so this
module needs no other context. The sending context reads the result as plain values
(bot/organisation_settings.py turns them into `ApprovalRules`, channels and a sender identity).

`check_settings(form, before=…)` turns what an admin typed into `OrganisationSettingsValues`
or raises `FieldErrors` naming every wrong field at once (the keys are the field names,
which the Slack modal also uses as its block ids), so a bad value changes nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from services.authorization import ApprovalPolicy, ApprovalRules
from services.email.addresses import normalise_email, normalise_emails
from services.errors import FieldErrors, InvalidInput
from services.field_rules import (
    BadValue,
    check_amount,
    check_bic,
    check_iban,
    check_language,
    check_text,
    check_vat_number,
    iban_shown,
)
from services.invoicing.schedule_settings import WEEKDAYS, check_time_zone, hour_or_off, silent_hours, weekday_number
from services.invoicing.send_window import (
    DEFAULT_SEND_WINDOW,
    check_holiday_country,
    check_preview_lead,
    parse_send_window,
)
from services.money import check_currency
from services.postal_address import (
    MAX_CITY,
    MAX_POSTAL_CODE,
    MAX_STREET,
    MAX_SUBDIVISION,
    PostalAddress,
    country_codes,
)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,31}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,31}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_COPIES = 10  # the organisation's own Cc/Bcc addresses
MAX_HOLDER = 70  # the EPC QR code's limit for the beneficiary's name (EPC069-12)


def from_name(*, sender_name: str | None, legal_name: str) -> str:
    """Who an invoice email comes from (its From name, and who signs its message): the From name an
    admin set (`sender_name`), else the organisation's legal name."""
    return sender_name or legal_name


@dataclass(frozen=True, kw_only=True)
class OrganisationSettingsValues:
    """Everything an admin sets for the organisation. Roles hold user ids (U…/W…) and group ids (S…)."""

    senders: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    approval_policy: ApprovalPolicy = ApprovalPolicy.NEVER
    approval_threshold: Decimal = Decimal(0)
    approve_new_recipients: bool = False  # the risk rule: new domain or changed recipients asks approval
    notify_channel: str | None = None
    approvers_channel: str | None = None
    sender_name: str | None = None
    sender_email: str = "invoices@example.com"
    reply_to: str | None = None
    bounce_domain: str | None = None
    legal_name: str = ""
    address: PostalAddress = field(default_factory=PostalAddress)
    tax_id: str = ""
    default_language: str = "en"
    default_currency: str = "EUR"
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    iban: str | None = None  # compact (no spaces), checked by `stdnum.iban`
    bic: str | None = None  # compact, checked by `stdnum.bic`
    account_holder: str = ""  # empty: the legal name
    # The silent-email alert (services/tracking/silent.py): hours without news per delivery route; 0 = off.
    silent_after_provider_hours: int = 24  # a provider with webhooks confirms delivery
    silent_after_smtp_hours: int = 72  # our own SMTP relay may never hear back
    time_zone: str = "UTC"  # THE organisation's time zone (IANA): its "today" and its set hours
    digest_hour: int | None = None  # the daily digest's hour in the time zone; None: off
    weekly_summary_day: int = 0  # the weekly summary's day (0 = Monday), with the daily digest
    send_window: str = DEFAULT_SEND_WINDOW  # when scheduled mail may leave (services/invoicing/send_window.py)
    holiday_country: str = ""  # whose public holidays close the send window; "" none
    preview_lead: int = 0  # minutes before the window opens that its preview is posted (services/reminders/preview.py)
    autosend: bool = False  # validated invoices go out on their issue date without a click (customers may differ)

    @property
    def from_name(self) -> str:
        """The name the customer reads: the email's From name and its signature, in the review and sent."""
        return from_name(sender_name=self.sender_name, legal_name=self.legal_name)

    def members(self, listed: Iterable[str]) -> frozenset[str]:
        """The user ids a role list grants the role to: its users and its groups' members."""
        users: set[str] = set()
        for entry in listed:
            users.update(self.group_members.get(entry, ()) if GROUP_ID.match(entry) else (entry,))
        return frozenset(users)

    def rules(self) -> ApprovalRules:
        return ApprovalRules(
            senders=self.members(self.senders),
            approvers=self.members(self.approvers),
            admins=self.members(self.admins),
            policy=self.approval_policy,
            threshold=self.approval_threshold,
            new_recipients=self.approve_new_recipients,
        )

    def changes_from(self, before: OrganisationSettingsValues) -> dict[str, list[Any]]:
        """Field → [old, new] for every field that differs (JSON-ready: what the audit entry keeps)."""
        old, new = _plain(before), _plain(self)
        return {name: [old[name], new[name]] for name in new if old[name] != new[name]}


def _plain(values: OrganisationSettingsValues) -> dict[str, Any]:
    shown = asdict(values)
    shown["approval_threshold"] = str(values.approval_threshold)
    shown["approval_policy"] = values.approval_policy.value
    shown["group_members"] = {group: sorted(users) for group, users in sorted(values.group_members.items())}
    for name in ("senders", "approvers", "admins", "cc", "bcc"):
        shown[name] = list(shown[name])
    return shown


@dataclass(frozen=True, kw_only=True)
class SettingsForm:
    """What the admin typed or picked, as text and lists (the modal's values); None: left empty."""

    senders: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    approval_policy: str = ApprovalPolicy.NEVER.value
    approval_threshold: str = "0"
    approve_new_recipients: bool = False
    notify_channel: str | None = None
    approvers_channel: str | None = None
    sender_name: str | None = None
    sender_email: str = ""
    reply_to: str | None = None
    bounce_domain: str | None = None
    legal_name: str = ""
    street: str = ""
    additional: str = ""
    city: str = ""
    postal_code: str = ""
    subdivision: str = ""
    country: str = ""
    tax_id: str = ""
    default_language: str = "en"
    default_currency: str = "EUR"
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    iban: str = ""
    bic: str = ""
    account_holder: str = ""
    silent_after_provider_hours: str = "24"
    silent_after_smtp_hours: str = "72"
    time_zone: str = "UTC"
    digest_hour: str = "off"  # "off", else 0–23
    weekly_summary_day: str = "monday"
    send_window: str = DEFAULT_SEND_WINDOW
    holiday_country: str = ""
    preview_lead: str = "0"
    autosend: bool = False
    reminder_ladder: str | None = None  # services.reminders' syntax; None: the modal had no such field


class _Errors:
    """Collects one message per field, so every wrong field is named in one answer."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def check(self, name: str, rule: Callable[[], Any], default: Any = None) -> Any:
        try:
            return rule()
        except (InvalidInput, BadValue, ValueError) as exc:
            self.found.setdefault(name, str(exc))
            return default


def _ids(values: Iterable[str], what: str, *pattern: re.Pattern[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = value.strip()
        if not any(p.match(text) for p in pattern):
            raise InvalidInput(f"{text!r} is not a Slack {what} id")
        if text not in out:
            out.append(text)
    return tuple(out)


def _channel(value: str | None) -> str | None:
    text = (value or "").strip()
    if text and not CHANNEL_ID.match(text):
        raise InvalidInput(f"{text!r} is not a Slack channel id (C… or G…)")
    return text or None


def _threshold(text: str, currency: str) -> Decimal:
    try:
        amount = Decimal((text or "0").strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount") from None
    if amount < 0:
        raise InvalidInput("the threshold cannot be negative")
    return check_amount(amount, "the threshold", currency=currency)


def _domain(value: str | None) -> str | None:
    text = (value or "").strip().lower().rstrip(".")
    if text and not DOMAIN.match(text):
        raise InvalidInput(f"{text!r} is not a domain name (like bounces.example.com)")
    return text or None


def _optional_text(value: str | None, name: str, limit: int) -> str:
    text = check_text((value or "").strip(), name)
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    return text


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in country_codes():
        raise InvalidInput(f"{value!r} is not a country code (ISO 3166, like GB or DE)")
    return code


def _copies(values: Iterable[str], name: str) -> tuple[str, ...]:
    found = normalise_emails([value for value in values if value.strip()])
    if len(found) > MAX_COPIES:
        raise InvalidInput(f"at most {MAX_COPIES} {name} addresses")
    return tuple(found)


_PART_LIMITS = {
    "street": MAX_STREET,
    "additional": MAX_STREET,
    "city": MAX_CITY,
    "postal_code": MAX_POSTAL_CODE,
    "subdivision": MAX_SUBDIVISION,
}


def _address(form: SettingsForm, errors: _Errors, country: str | None) -> PostalAddress:
    parts: dict[str, str] = {}
    for name, limit in _PART_LIMITS.items():
        rule = functools.partial(_optional_text, getattr(form, name), name, limit)
        parts[name] = errors.check(name, rule, "")
    return PostalAddress(**parts, country=country)


def check_settings(
    form: SettingsForm, *, before: OrganisationSettingsValues, require_admin: bool = True
) -> OrganisationSettingsValues:
    """The form's values checked, or FieldErrors naming each wrong field (keys: the field names).

    The VAT number is checked when it changed (or the country did), the IBAN and BIC when they
    changed: a stored value that predates the check is not held against an unrelated change of,
    say, the approvers.
    """
    errors = _Errors()
    currency = errors.check("default_currency", lambda: check_currency(form.default_currency.strip()), "EUR")
    country = errors.check("country", lambda: _country(form.country))
    tax_id = form.tax_id.strip()
    if tax_id != before.tax_id or country != before.address.country:
        tax_id = errors.check("tax_id", lambda: check_vat_number(tax_id, "the VAT number", country=country), tax_id)
    values = OrganisationSettingsValues(
        senders=errors.check("senders", lambda: _ids(form.senders, "user or user group", USER_ID, GROUP_ID), ()),
        approvers=errors.check("approvers", lambda: _ids(form.approvers, "user or user group", USER_ID, GROUP_ID), ()),
        admins=errors.check("admins", lambda: _ids(form.admins, "user or user group", USER_ID, GROUP_ID), ()),
        group_members={group: _ids(users, "user", USER_ID) for group, users in form.group_members.items()},
        approval_policy=errors.check(
            "approval_policy", lambda: ApprovalPolicy(form.approval_policy), ApprovalPolicy.NEVER
        ),
        approval_threshold=errors.check(
            "approval_threshold", lambda: _threshold(form.approval_threshold, currency), Decimal(0)
        ),
        approve_new_recipients=bool(form.approve_new_recipients),
        autosend=bool(form.autosend),
        notify_channel=errors.check("notify_channel", lambda: _channel(form.notify_channel)),
        approvers_channel=errors.check("approvers_channel", lambda: _channel(form.approvers_channel)),
        sender_name=errors.check("sender_name", lambda: _optional_text(form.sender_name, "the From name", 200)) or None,
        sender_email=errors.check("sender_email", lambda: normalise_email(form.sender_email), ""),
        reply_to=errors.check("reply_to", lambda: normalise_email(form.reply_to) if form.reply_to else None),
        bounce_domain=errors.check("bounce_domain", lambda: _domain(form.bounce_domain)),
        legal_name=errors.check("legal_name", lambda: _legal_name(form.legal_name), ""),
        address=_address(form, errors, country),
        tax_id=tax_id,
        default_language=errors.check(
            "default_language", lambda: check_language(form.default_language, "language"), "en"
        ),
        default_currency=currency,
        cc=errors.check("cc", lambda: _copies(form.cc, "Cc"), ()),
        bcc=errors.check("bcc", lambda: _copies(form.bcc, "Bcc"), ()),
        iban=before.iban if _same_code(form.iban, before.iban) else errors.check("iban", lambda: check_iban(form.iban)),
        bic=before.bic if _same_code(form.bic, before.bic) else errors.check("bic", lambda: check_bic(form.bic)),
        account_holder=errors.check(
            "account_holder", lambda: _optional_text(form.account_holder, "the account holder", MAX_HOLDER), ""
        ),
        silent_after_provider_hours=errors.check(
            "silent_after_provider_hours", lambda: silent_hours(form.silent_after_provider_hours), 24
        ),
        silent_after_smtp_hours=errors.check(
            "silent_after_smtp_hours", lambda: silent_hours(form.silent_after_smtp_hours), 72
        ),
        time_zone=errors.check("time_zone", lambda: check_time_zone(form.time_zone), "UTC"),
        digest_hour=errors.check("digest_hour", lambda: hour_or_off(form.digest_hour)),
        weekly_summary_day=errors.check("weekly_summary_day", lambda: weekday_number(form.weekly_summary_day), 0),
        send_window=errors.check(
            "send_window", lambda: parse_send_window(form.send_window).text(), DEFAULT_SEND_WINDOW
        ),
        holiday_country=errors.check("holiday_country", lambda: check_holiday_country(form.holiday_country), ""),
        preview_lead=errors.check("preview_lead", lambda: check_preview_lead(form.preview_lead), 0),
    )
    if values.bic and not values.iban and "iban" not in errors.found:
        errors.found["iban"] = "a BIC alone cannot be paid to: give the IBAN too (or clear the BIC)"
    if require_admin and not values.admins and not errors.found.get("admins"):
        errors.found["admins"] = "name at least one admin, or nobody could change the settings again"
    if errors.found:
        raise FieldErrors(errors.found)
    return values


def _same_code(typed: str, stored: str | None) -> bool:
    """Whether a typed IBAN or BIC is the stored one, spaces and case aside."""
    return "".join(typed.split()).upper() == (stored or "")


def check_seed(values: OrganisationSettingsValues) -> OrganisationSettingsValues:
    """The environment's values, before the first start stores them, through the modal's own checks.

    FieldErrors (keyed by field) when one is wrong, so a bad variable is caught before anything
    is written rather than stored and refused at the first edit. Unlike the modal, no admin is
    required: a single-workspace install has always been able to start without INVOICEBOT_ADMINS.
    """
    return check_settings(form_of(values), before=OrganisationSettingsValues(), require_admin=False)


def _legal_name(value: str) -> str:
    text = _optional_text(value, "the legal name", 200)
    if not text:
        raise InvalidInput("the legal name is required: it is printed on every invoice")
    return text


def form_of(values: OrganisationSettingsValues) -> SettingsForm:
    """The form an admin sees, filled with the stored values (what `check_settings` takes back)."""
    same = {item.name for item in fields(SettingsForm)} & {item.name for item in fields(OrganisationSettingsValues)}
    filled: dict[str, Any] = {name: getattr(values, name) for name in same}
    filled.update(
        iban=iban_shown(values.iban),
        bic=values.bic or "",
        approval_policy=values.approval_policy.value,
        approval_threshold=str(values.approval_threshold),
        silent_after_provider_hours=str(values.silent_after_provider_hours),
        silent_after_smtp_hours=str(values.silent_after_smtp_hours),
        digest_hour="off" if values.digest_hour is None else str(values.digest_hour),
        weekly_summary_day=WEEKDAYS[values.weekly_summary_day],
        preview_lead=str(values.preview_lead),
        country=values.address.country or "",
        **{
            part: getattr(values.address, part)
            for part in ("street", "additional", "city", "postal_code", "subdivision")
        },
    )
    return replace(SettingsForm(), **filled)
