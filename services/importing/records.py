"""What an import file means, whatever its format: invoice records and the problems found.

`importing_csv` and `importing_json` turn text into `InvoiceRecord`s through the field
checks here, so a date, an amount or an address is judged the same way in both formats
and every problem reads "line N: <reason>" for a finance person. Nothing here touches
the database; `services.importing.loader` compares the records with what is stored and writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TypeVar

from services.db.models import DocumentKind, InvoiceStatus
from services.email.addresses import normalise_email, split_addresses
from services.errors import InvalidInput
from services.field_rules import BadValue, check_amount, check_date, check_language, check_text
from services.formatting import DEFAULT_LOCALE, format_money
from services.importing.limits import Problem, ProblemLog
from services.invoicing.totals import LineAmounts, Totals, compute_totals
from services.money import check_currency, minor_units

T = TypeVar("T")

IMPORTABLE_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.VALIDATED)
MAX_DECIMAL_PLACES = 4  # the database keeps amounts and quantities to 4 places (Numeric(18, 4))
_PLAIN_TEXT = re.compile(r"[ -~]+")  # printable ASCII on one line: nothing for the field rules to refuse


@dataclass(frozen=True)
class CustomerRecord:
    ref: str
    name: str
    emails: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    language: str = "en"
    # The postal address in parts (services.postal_address); `country` is its country.
    street: str = ""
    additional: str = ""
    city: str = ""
    postal_code: str = ""
    subdivision: str = ""
    country: str | None = None
    tax_id: str | None = None

    def first_difference(self, other: CustomerRecord) -> str | None:
        """The name of the first field that differs from `other`, for a readable message."""
        for item in fields(self):
            if getattr(self, item.name) != getattr(other, item.name):
                return item.name
        return None


MAX_NOTE_CHARS = 2000
VISIBILITIES = {"visible": True, "internal": False}  # how a file marks a note; empty means visible


@dataclass(frozen=True)
class LineRecord:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # percent
    note: str | None = None
    note_visible: bool = True  # False: internal, never shown to the customer


@dataclass
class InvoiceRecord:
    """One invoice as the file describes it; `line` is where it starts in the file."""

    line: int
    number: str
    customer: CustomerRecord
    issue_date: date
    due_date: date
    currency: str
    status: InvoiceStatus
    stated_total: Decimal
    lines: list[LineRecord] = field(default_factory=list)
    totals: Totals | None = None
    notes: str | None = None
    notes_visible: bool = True  # False: internal, never shown to the customer
    kind: DocumentKind = DocumentKind.INVOICE
    corrects: str | None = None  # a credit note: the number of the invoice it corrects
    credit_reason: str | None = None


@dataclass
class ParsedFile:
    """Every invoice that could be read, and every problem found while reading."""

    invoices: list[InvoiceRecord]
    problems: ProblemLog
    row_count: int


class RowReader:
    """Runs field checks for one row or object, collecting each failure as a `Problem`.

    A row with three bad fields yields three problems, so one run of the import tells the
    user everything that must be fixed.
    """

    def __init__(self, line: int, sink: ProblemLog, prefix: str = "") -> None:
        self.line = line
        self.sink = sink
        self.prefix = prefix
        self.ok = True

    def report(self, reason: str) -> None:
        self.ok = False
        self.sink.append(Problem(self.line, self.prefix + reason))

    def read(self, check: Callable[..., T], *args: object, **kwargs: object) -> T | None:
        try:
            return check(*args, **kwargs)
        except BadValue as exc:
            self.report(str(exc))
            return None


def text(value: object, name: str, *, max_length: int, required: bool = True, multiline: bool = False) -> str:
    """Stripped text within `max_length`, holding no character `field_rules.check_text` refuses."""
    if type(value) is str:  # the common case first: this runs a few million times per large file
        value = value.strip()
        if value and len(value) <= max_length and _PLAIN_TEXT.fullmatch(value):
            return value
    if value is None:
        value = ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise BadValue(f"{name} must be text")
        value = str(value)
    value = value.strip()
    if multiline:  # a Windows file's CRLF inside a quoted field: store plain line breaks
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if required and not value:
        raise BadValue(f"{name} is empty")
    if len(value) > max_length:
        raise BadValue(f"{name} is longer than {max_length} characters")
    return check_text(value, name, multiline=multiline)


def optional_text(value: object, name: str, *, max_length: int) -> str | None:
    return text(value, name, max_length=max_length, required=False) or None


def note(value: object, name: str) -> str | None:
    """An optional note, on several lines if need be."""
    return text(value, name, max_length=MAX_NOTE_CHARS, required=False, multiline=True) or None


def visibility(value: object, name: str) -> bool:
    """Whether a note is customer-visible: `visible` (or empty) or `internal`; anything else is refused."""
    raw = text(value, name, max_length=20, required=False).lower() or "visible"
    if raw not in VISIBILITIES:
        raise BadValue(f"{name} {raw!r} is not a visibility: write internal or visible (empty means visible)")
    return VISIBILITIES[raw]


def iso_date(value: object, name: str) -> date:
    raw = text(value, name, max_length=40)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadValue(f"{name} {raw!r} is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)") from None
    return check_date(day, name)


def currency(value: object, name: str = "currency") -> str:
    raw = text(value, name, max_length=10)
    try:
        return check_currency(raw)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


_PLAIN_NUMBER = re.compile(r"-?\d{1,13}(?:\.\d{0,4})?")


def number(value: object, name: str, *, allow_negative: bool = True) -> Decimal:
    """A decimal number written with a dot; JSON numbers arrive here as Decimal, never float."""
    if type(value) is str and _PLAIN_NUMBER.fullmatch(value) and (allow_negative or value[0] != "-"):
        return Decimal(value)  # fast path: plainly within range and precision
    if isinstance(value, bool):
        raise BadValue(f"{name} {value!r} is not a number")
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
        shown = str(value)
    else:
        shown = text(value, name, max_length=40)
        try:
            amount = Decimal(shown)
        except InvalidOperation:
            hint = " (use a dot for decimals, e.g. 1234.50)" if "," in shown else ""
            raise BadValue(f"{name} {shown!r} is not a number{hint}") from None
    check_amount(amount, name, shown=shown)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise BadValue(f"{name} {shown} has more than {MAX_DECIMAL_PLACES} decimal places")
    if not allow_negative and amount < 0:
        raise BadValue(f"{name} {shown} is negative")
    return amount


def quantity(value: object) -> Decimal:
    amount = number(value, "quantity")
    if amount < 0:
        raise BadValue(f"quantity {value} is negative; import a credit note as kind credit_note with positive amounts")
    return amount


def tax_rate(value: object) -> Decimal:
    rate = number(value, "tax_rate")
    if not Decimal(0) <= rate <= Decimal(100):
        raise BadValue(f"tax_rate {value} is not a percentage between 0 and 100")
    return rate


def status(value: object) -> InvoiceStatus:
    raw = text(value, "status", max_length=20, required=False).lower() or InvoiceStatus.DRAFT.value
    if raw not in IMPORTABLE_STATUSES:
        raise BadValue(
            f"status {raw!r} cannot be imported: use draft or validated "
            "(sending, payment and voiding are recorded in invoicebot)"
        )
    return InvoiceStatus(raw)


@cache
def _checked_email(address: str, smtputf8: bool) -> str:
    try:
        return normalise_email(address, smtputf8=smtputf8)
    except InvalidInput as exc:
        raise BadValue(str(exc)) from None


def emails(value: object, name: str, *, smtputf8: bool = False) -> tuple[str, ...]:
    """`;`-separated text or a JSON list; each address validated, duplicates dropped.

    `smtputf8`: whether the organisation's mail server offers SMTPUTF8, as the review modal
    asks (services.email.verification.accepts_smtputf8); without it a non-ASCII name before
    the @ is refused, since the worker could not send to it.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts: Iterable[object] = split_addresses(value)
    elif isinstance(value, list):
        parts = value
    else:
        raise BadValue(f"{name} must be a list of email addresses")
    result: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            bad.append(f"{part!r} is not an email address")
            continue
        try:
            address = _checked_email(part.strip(), smtputf8)
        except BadValue as exc:
            bad.append(str(exc))
            continue
        if address.lower() not in seen:
            seen.add(address.lower())
            result.append(address)
    if bad:
        raise BadValue(f"{name}: " + "; ".join(bad))
    return tuple(result)


def language(value: object) -> str:
    """One of the languages we ship wording for; `fr-BE` is stored as `fr`."""
    raw = text(value, "customer_language", max_length=20, required=False) or "en"
    return check_language(raw, "customer_language")


def check_invoice(record: InvoiceRecord, reader: RowReader, *, total_field: str = "invoice_total") -> None:
    """Invoice-wide rules: dates in order, at least one line, amounts in range, totals that add up.

    `total_field` is how the file format names the stated total (CSV `invoice_total`, JSON `total`).
    """
    if record.due_date < record.issue_date:
        reader.report(f"invoice {record.number}: due_date {record.due_date} is before issue_date {record.issue_date}")
    if not record.lines:
        reader.report(f"invoice {record.number} has no lines")
        return
    try:
        check_amount(record.stated_total, total_field, currency=record.currency)
        for position, line in enumerate(record.lines, start=1):
            check_amount(line.quantity * line.unit_price, f"line item {position}: quantity × unit_price")
    except BadValue as exc:
        reader.report(f"invoice {record.number}: {exc}")
        return
    totals = compute_totals(
        (LineAmounts(line.quantity, line.unit_price, line.tax_rate) for line in record.lines), record.currency
    )
    record.totals = totals
    if totals.total != record.stated_total:
        reader.report(
            f"invoice {record.number}: the lines add up to {_money(totals.total, record.currency)} "
            f"({_money(totals.subtotal, record.currency)} + {_money(totals.tax_total, record.currency)} tax) "
            f"but the file says the total is {_money(record.stated_total, record.currency)}"
        )
    elif totals.total < 0:
        reader.report(
            f"invoice {record.number} totals {_money(totals.total, record.currency)}; "
            "a negative invoice is a credit note: import it as kind credit_note with positive amounts"
        )
    _check_credit_fields(record, reader)


def document_kind(value: object) -> DocumentKind:
    raw = text(value, "kind", max_length=20, required=False).lower() or DocumentKind.INVOICE.value
    if raw not in DocumentKind.__members__.values():
        raise BadValue(f"kind {raw!r} is not invoice or credit_note")
    return DocumentKind(raw)


def _check_credit_fields(record: InvoiceRecord, reader: RowReader) -> None:
    """A credit note names the invoice it corrects; an invoice names none."""
    if record.kind == DocumentKind.CREDIT_NOTE:
        if not record.corrects:
            reader.report(f"credit note {record.number} does not say which invoice it corrects (corrects_invoice)")
        elif record.corrects == record.number:
            reader.report(f"credit note {record.number} cannot correct itself")
    elif record.corrects or record.credit_reason:
        reader.report(
            f"invoice {record.number} has corrects_invoice or credit_reason but is not a credit note "
            "(set kind to credit_note)"
        )


def _money(amount: Decimal, currency_code: str) -> str:
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > minor_units(currency_code):
        return f"{amount} {currency_code}"  # show every digit the file gave, not a rounded one
    return format_money(amount, currency_code, DEFAULT_LOCALE)  # the importer's messages are in English


class CustomerLedger:
    """One customer per reference in a file: later mentions must repeat the same details."""

    def __init__(self) -> None:
        self.first_seen: dict[str, tuple[CustomerRecord, int]] = {}

    def check(self, customer: CustomerRecord, reader: RowReader) -> None:
        known = self.first_seen.get(customer.ref)
        if known is None:
            self.first_seen[customer.ref] = (customer, reader.line)
            return
        earlier, line = known
        difference = customer.first_difference(earlier)
        if difference is not None:
            reader.report(
                f"customer {customer.ref} has a different {difference} than on line {line}; "
                "a customer must have the same details on every row"
            )
