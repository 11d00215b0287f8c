"""JSON import files: a list of invoice objects, each with its customer and lines nested.

The format is documented in the README ("Import format"). Numbers are read as Decimal
(never float), and may also be given as strings. A problem names the line on which its
invoice object starts, found by decoding the array one element at a time
(`JSONDecoder.raw_decode`), plus which line item it concerns.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from decimal import Decimal
from itertools import accumulate
from typing import Any

from services.importing.address import postal_address
from services.importing.limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, Problem, ProblemLog
from services.importing.records import (
    CustomerLedger,
    CustomerRecord,
    InvoiceRecord,
    LineRecord,
    ParsedFile,
    RowReader,
    check_invoice,
    currency,
    document_kind,
    emails,
    iso_date,
    language,
    note,
    number,
    optional_text,
    quantity,
    status,
    tax_rate,
    text,
    visibility,
)
from services.postal_address import ADDRESS_PARTS, address_columns

INVOICE_FIELDS = (
    "number", "customer", "issue_date", "due_date", "currency", "status", "lines", "total",
    "notes", "notes_visibility", "kind", "corrects_invoice", "credit_reason",
)  # fmt: skip
REQUIRED_INVOICE_FIELDS = ("number", "customer", "issue_date", "due_date", "currency", "lines", "total")
CUSTOMER_FIELDS = ("ref", "name", "emails", "cc", "language", "address", *ADDRESS_PARTS, "country", "tax_id")
REQUIRED_LINE_FIELDS = ("description", "quantity", "unit_price", "tax_rate")
LINE_FIELDS = (*REQUIRED_LINE_FIELDS, "note", "note_visibility")

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRINGS = re.compile(_STRING, re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKETS_OR_STRINGS = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _BadElement(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


class NumberTooLong(ValueError):
    """A JSON number written with more than `MAX_NUMBER_CHARS` characters."""

    def __init__(self, written: str) -> None:
        super().__init__(f"a number written with {len(written):,} digits ({written[:12]}…) is far too large")


def _bounded_number(written: str) -> Decimal:
    """JSON numbers become Decimal (never float), and only when short enough to be an amount.

    Checking the length first also keeps int() and Decimal() from spending seconds on a
    100,000-digit number (Python refuses ints above 4,300 digits with a ValueError).
    """
    if len(written) > MAX_NUMBER_CHARS:
        raise NumberTooLong(written)
    return Decimal(written)


def _no_constant(name: str) -> Decimal:
    """Python's json reads NaN and Infinity, which JSON does not have and no amount can be."""
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


_DECODER = json.JSONDecoder(parse_float=_bounded_number, parse_int=_bounded_number, parse_constant=_no_constant)


class _Lines:
    """Character offset → 1-based line number."""

    def __init__(self, content: str) -> None:
        self.starts = [0] + [found.end() for found in re.finditer("\n", content)]

    def of(self, offset: int) -> int:
        return bisect_right(self.starts, offset)


def _skip_space(content: str, index: int) -> int:
    while index < len(content) and content[index] in " \t\r\n":
        index += 1
    return index


def _elements(content: str, lines: _Lines) -> list[tuple[int, Any]]:
    """The top-level array's elements with their starting line; JSONDecodeError if malformed."""
    index = _skip_space(content, 0)
    if index >= len(content) or content[index] != "[":
        raise json.JSONDecodeError("expected a list of invoices, starting with [", content, index)
    index = _skip_space(content, index + 1)
    elements: list[tuple[int, Any]] = []
    if index < len(content) and content[index] == "]":
        return elements
    while True:
        try:
            value, end = _DECODER.raw_decode(content, index)
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # NumberTooLong, or Python's own int-from-string limit
            raise _BadElement(lines.of(index), str(exc)) from None
        elements.append((lines.of(index), value))
        index = _skip_space(content, end)
        if index < len(content) and content[index] == ",":
            index = _skip_space(content, index + 1)
            continue
        if index < len(content) and content[index] == "]":
            if _skip_space(content, index + 1) != len(content):
                raise json.JSONDecodeError("unexpected text after the list", content, index + 1)
            return elements
        raise json.JSONDecodeError("expected , or ] after an invoice", content, index)


def _unknown(obj: dict[str, Any], known: tuple[str, ...], what: str, reader: RowReader) -> None:
    for name in obj:
        if name not in known:
            reader.report(f"unknown field {name!r} in {what} (the fields are: {', '.join(known)})")


def _customer(obj: Any, reader: RowReader, *, smtputf8: bool) -> CustomerRecord | None:
    if not isinstance(obj, dict):
        reader.report("customer must be an object with ref, name, emails, …")
        return None
    _unknown(obj, CUSTOMER_FIELDS, "customer", reader)
    ref = reader.read(text, obj.get("ref"), "customer ref", max_length=64)
    name = reader.read(text, obj.get("name"), "customer name", max_length=200)
    to = reader.read(emails, obj.get("emails"), "customer emails", smtputf8=smtputf8)
    cc = reader.read(emails, obj.get("cc"), "customer cc", smtputf8=smtputf8)
    lang = reader.read(language, obj.get("language"))
    address = postal_address(reader, obj, key=lambda field: field, name=lambda field: f"customer {field}")
    tax_id = reader.read(optional_text, obj.get("tax_id"), "customer tax_id", max_length=64)
    if ref is None or name is None or to is None or cc is None or lang is None or address is None:
        return None
    return CustomerRecord(ref, name, to, cc, lang, **address_columns(address), country=address.country, tax_id=tax_id)


def _line(obj: Any, position: int, reader: RowReader) -> LineRecord | None:
    item = RowReader(reader.line, reader.sink, prefix=f"{reader.prefix}line item {position}: ")
    if not isinstance(obj, dict):
        item.report("must be an object with description, quantity, unit_price and tax_rate")
    else:
        _unknown(obj, LINE_FIELDS, "the line item", item)
        for name in REQUIRED_LINE_FIELDS:
            if name not in obj:
                item.report(f"missing field {name!r}")
        if item.ok:
            description = item.read(text, obj["description"], "description", max_length=2000, multiline=True)
            count = item.read(quantity, obj["quantity"])
            price = item.read(number, obj["unit_price"], "unit_price")
            rate = item.read(tax_rate, obj["tax_rate"])
            line_note = item.read(note, obj.get("note"), "note")
            shown = item.read(visibility, obj.get("note_visibility"), "note_visibility")
            if None not in (description, count, price, rate, shown):
                return LineRecord(description, count, price, rate, line_note, shown)  # type: ignore[arg-type]
    reader.ok = False
    return None


def _invoice(obj: Any, line: int, problems: ProblemLog, *, smtputf8: bool) -> InvoiceRecord | None:
    reader = RowReader(line, problems)
    if not isinstance(obj, dict):
        reader.report("each element of the list must be an invoice object")
        return None
    label = obj.get("number")
    if isinstance(label, str) and label.strip():
        reader.prefix = f"invoice {label.strip()}: "
    _unknown(obj, INVOICE_FIELDS, "the invoice", reader)
    for name in REQUIRED_INVOICE_FIELDS:
        if name not in obj:
            reader.report(f"missing field {name!r}")
    invoice_number = reader.read(text, obj.get("number"), "number", max_length=64)
    customer = _customer(obj.get("customer"), reader, smtputf8=smtputf8) if "customer" in obj else None
    issued = reader.read(iso_date, obj.get("issue_date"), "issue_date") if "issue_date" in obj else None
    due = reader.read(iso_date, obj.get("due_date"), "due_date") if "due_date" in obj else None
    code = reader.read(currency, obj.get("currency")) if "currency" in obj else None
    state = reader.read(status, obj.get("status"))
    total = reader.read(number, obj.get("total"), "total") if "total" in obj else None
    notes = reader.read(note, obj.get("notes"), "notes")
    notes_visible = reader.read(visibility, obj.get("notes_visibility"), "notes_visibility")
    kind = reader.read(document_kind, obj.get("kind"))
    corrects = reader.read(optional_text, obj.get("corrects_invoice"), "corrects_invoice", max_length=64)
    reason = reader.read(optional_text, obj.get("credit_reason"), "credit_reason", max_length=500)
    raw_lines = obj.get("lines", [])
    if not isinstance(raw_lines, list):
        reader.report("lines must be a list of line items")
        raw_lines = []
    lines = [_line(item, position, reader) for position, item in enumerate(raw_lines, start=1)]
    if not reader.ok or None in (invoice_number, customer, issued, due, code, state, total, kind):
        return None
    record = InvoiceRecord(line, invoice_number, customer, issued, due, code, state, total)  # type: ignore[arg-type]
    record.kind, record.corrects, record.credit_reason = kind, corrects, reason  # type: ignore[assignment]
    record.lines = [item for item in lines if item is not None]
    record.notes, record.notes_visible = notes, bool(notes_visible)
    check_invoice(record, RowReader(line, problems), total_field="total")
    return record


def _too_deep(content: str) -> int | None:
    """The offset where nesting first exceeds `MAX_JSON_DEPTH`, found before the decoder recurses.

    Strings are blanked out, the brackets left are summed (in C, via accumulate); only a
    file that is too deep is walked again to find where, for the line number.
    """
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", content))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for found in _BRACKETS_OR_STRINGS.finditer(content):
        depth += _STEP.get(found.group(), 0)
        if depth > MAX_JSON_DEPTH:
            return found.start()
    return None


def parse_json(content: str, *, smtputf8: bool = False) -> ParsedFile:
    """Read every invoice object; return the invoices and every problem found.

    `smtputf8`: whether the organisation's mail server takes non-ASCII names before the @.

    The caller has bounded the size; depth and number length are bounded here, so a
    hostile file is one problem, never a RecursionError or a minute in int().
    """
    lines = _Lines(content)
    problems = ProblemLog()
    deep_at = _too_deep(content)
    if deep_at is not None:
        problems.append(Problem(lines.of(deep_at), f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"))
        return ParsedFile([], problems, 0)
    try:
        elements = _elements(content, lines)
    except json.JSONDecodeError as exc:
        problems.append(Problem(exc.lineno, f"the file is not valid JSON: {exc.msg}"))
        return ParsedFile([], problems, 0)
    except _BadElement as exc:
        problems.append(Problem(exc.line, str(exc)))
        return ParsedFile([], problems, 0)
    invoices: list[InvoiceRecord] = []
    first_seen: dict[str, int] = {}
    customers = CustomerLedger()
    for line, obj in elements:
        label = obj.get("number") if isinstance(obj, dict) else None
        if isinstance(label, str) and label.strip():
            if label.strip() in first_seen:
                problems.append(
                    Problem(
                        line,
                        f"duplicate invoice number {label.strip()} (first seen on line {first_seen[label.strip()]})",
                    )
                )
            else:
                first_seen[label.strip()] = line
        record = _invoice(obj, line, problems, smtputf8=smtputf8)
        if record is not None:
            customers.check(record.customer, RowReader(line, problems))
            invoices.append(record)
    return ParsedFile(invoices, problems, sum(len(record.lines) for record in invoices))
