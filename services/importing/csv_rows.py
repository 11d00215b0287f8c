"""CSV import files: one row per invoice line, the rows of one invoice next to each other.

The format is documented in the README ("Import format"). The header names the columns
(any order; `,` `;` or tab separated, detected from the header). Invoice and customer
columns repeat on every row of an invoice and must agree; line numbers in problems are
the file's own line numbers (the header is line 1), so a user can jump to them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import chain
from typing import TextIO

from services.importing.address import postal_address
from services.importing.limits import (
    BoundedLines,
    FileTooLarge,
    ImportLimits,
    NotUtf8,
    Problem,
    ProblemLog,
    RecordTooLong,
)
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

INVOICE_COLUMNS = (
    "invoice_number",
    "customer_ref",
    "customer_name",
    "customer_emails",
    "customer_cc",
    "customer_language",
    "customer_address",
    "customer_street",
    "customer_additional",
    "customer_city",
    "customer_postal_code",
    "customer_subdivision",
    "customer_country",
    "customer_tax_id",
    "issue_date",
    "due_date",
    "currency",
    "status",
    "invoice_total",
    "notes",
    "notes_visibility",
    "kind",
    "corrects_invoice",
    "credit_reason",
)
LINE_COLUMNS = ("description", "quantity", "unit_price", "tax_rate", "line_note", "line_note_visibility")
COLUMNS = INVOICE_COLUMNS + LINE_COLUMNS
OPTIONAL_COLUMNS = frozenset(
    {
        "customer_emails",
        "customer_cc",
        "customer_language",
        "customer_address",
        *(f"customer_{part}" for part in ADDRESS_PARTS),
        "customer_country",
        "customer_tax_id",
        "status",
        "notes",
        "notes_visibility",
        "line_note",
        "line_note_visibility",
        "kind",
        "corrects_invoice",
        "credit_reason",
    }
)
REQUIRED_COLUMNS = tuple(column for column in COLUMNS if column not in OPTIONAL_COLUMNS)
Row = tuple[int, list[str]]


def _delimiter(header_line: str) -> str:
    counts = {candidate: header_line.count(candidate) for candidate in (",", ";", "\t")}
    return max(counts, key=lambda candidate: counts[candidate])


def _check_header(header: list[str], line: int, problems: ProblemLog) -> dict[str, int] | None:
    found = len(problems)
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name not in COLUMNS:
            problems.append(Problem(line, f"unknown column {name!r} (the columns are: {', '.join(COLUMNS)})"))
        elif name in positions:
            problems.append(Problem(line, f"column {name!r} appears twice"))
        else:
            positions[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in positions:
            problems.append(Problem(line, f"missing required column {name!r}"))
    return None if len(problems) > found else positions


def _customer(values: dict[str, str], reader: RowReader, *, smtputf8: bool) -> CustomerRecord | None:
    ref = reader.read(text, values.get("customer_ref"), "customer_ref", max_length=64)
    name = reader.read(text, values.get("customer_name"), "customer_name", max_length=200)
    to = reader.read(emails, values.get("customer_emails"), "customer_emails", smtputf8=smtputf8)
    cc = reader.read(emails, values.get("customer_cc"), "customer_cc", smtputf8=smtputf8)
    lang = reader.read(language, values.get("customer_language"))
    address = postal_address(
        reader, values, key=lambda field: f"customer_{field}", name=lambda field: f"customer_{field}"
    )
    tax_id = reader.read(optional_text, values.get("customer_tax_id"), "customer_tax_id", max_length=64)
    if ref is None or name is None or to is None or cc is None or lang is None or address is None:
        return None
    return CustomerRecord(ref, name, to, cc, lang, **address_columns(address), country=address.country, tax_id=tax_id)


CUSTOMER_COLUMNS = tuple(column for column in INVOICE_COLUMNS if column.startswith("customer_"))


def _invoice(
    values: dict[str, str],
    line: int,
    reader: RowReader,
    known: dict[tuple[str, ...], CustomerRecord],
    *,
    smtputf8: bool,
) -> InvoiceRecord | None:
    """`known` caches customers already read from identical cells (checking addresses is slow)."""
    invoice_number = reader.read(text, values.get("invoice_number"), "invoice_number", max_length=64)
    cells = tuple(values.get(column, "") for column in CUSTOMER_COLUMNS)
    customer = known.get(cells)
    if customer is None:
        customer = _customer(values, reader, smtputf8=smtputf8)
        if customer is not None:
            known[cells] = customer
    issued = reader.read(iso_date, values.get("issue_date"), "issue_date")
    due = reader.read(iso_date, values.get("due_date"), "due_date")
    code = reader.read(currency, values.get("currency"))
    state = reader.read(status, values.get("status"))
    total = reader.read(number, values.get("invoice_total"), "invoice_total")
    notes = reader.read(note, values.get("notes"), "notes")
    notes_visible = reader.read(visibility, values.get("notes_visibility"), "notes_visibility")
    kind = reader.read(document_kind, values.get("kind"))
    corrects = reader.read(optional_text, values.get("corrects_invoice"), "corrects_invoice", max_length=64)
    reason = reader.read(optional_text, values.get("credit_reason"), "credit_reason", max_length=500)
    if None in (invoice_number, customer, issued, due, code, state, total, notes_visible, kind):
        return None
    record = InvoiceRecord(line, invoice_number, customer, issued, due, code, state, total)  # type: ignore[arg-type]
    record.notes, record.notes_visible = notes, bool(notes_visible)
    record.kind, record.corrects, record.credit_reason = kind, corrects, reason  # type: ignore[assignment]
    return record


def _line(values: dict[str, str], reader: RowReader) -> LineRecord | None:
    description = reader.read(text, values.get("description"), "description", max_length=2000, multiline=True)
    count = reader.read(quantity, values.get("quantity"))
    price = reader.read(number, values.get("unit_price"), "unit_price")
    rate = reader.read(tax_rate, values.get("tax_rate"))
    line_note = reader.read(note, values.get("line_note"), "line_note")
    shown = reader.read(visibility, values.get("line_note_visibility"), "line_note_visibility")
    if description is None or count is None or price is None or rate is None or shown is None:
        return None
    return LineRecord(description, count, price, rate, line_note, shown)


def _records(
    reader: Iterator[list[str]], lines: BoundedLines, limits: ImportLimits, problems: ProblemLog
) -> Iterator[Row]:
    """Each non-empty record with the file line it starts on (quoted fields may span lines).

    Reading stops at the first record that cannot be read (too long, not CSV, not UTF-8):
    past it, where the next record starts is anyone's guess, so later line numbers would lie.
    """
    line_num = 0
    while True:
        start = line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except (RecordTooLong, FileTooLarge, NotUtf8, csv.Error) as exc:
            problems.append(Problem(start, f"{_unreadable(exc, limits)}; the rest of the file was not read"))
            return
        lines.next_record()
        line_num = reader.line_num  # type: ignore[attr-defined]
        if row and (len(row) > 1 or row[0].strip()):
            yield start, row


def _unreadable(exc: Exception, limits: ImportLimits) -> str:
    """Why reading stopped, in words a finance person can act on."""
    if isinstance(exc, RecordTooLong):
        return (
            f"this row is longer than {limits.max_record_chars:,} characters "
            f"(at most {limits.max_columns} columns of {limits.max_field_chars:,})"
        )
    if isinstance(exc, FileTooLarge):
        return f"the file is larger than {limits.max_bytes:,} bytes"
    if isinstance(exc, NotUtf8):
        return "this row is not UTF-8 text (save the file as UTF-8 CSV)"
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {limits.max_field_chars:,} characters"
    return f"the file is not readable CSV ({exc})"


def _too_wide(line: int, row: list[str], limits: ImportLimits, header: list[str], problems: ProblemLog) -> bool:
    """Report a row with too many columns or an over-long field; True when it must be skipped."""
    if len(row) > limits.max_columns:
        problems.append(
            Problem(line, f"this row has {len(row):,} values; at most {limits.max_columns} columns are read")
        )
        return True
    if max(map(len, row)) > limits.max_field_chars:
        for index, cell in enumerate(row):
            if len(cell) > limits.max_field_chars:
                column = header[index] if index < len(header) and header[index] else f"column {index + 1}"
                problems.append(Problem(line, f"{column} is longer than {limits.max_field_chars:,} characters"))
        return True
    return False


def csv_records(stream: TextIO, limits: ImportLimits, problems: ProblemLog) -> Iterator[Row]:
    """The file's non-empty records, header first, each with its line number; a file that cannot
    be read stops with its problem in `problems` (shared by every CSV import: invoices, payments)."""
    lines = BoundedLines(stream, limits)
    try:
        first_line = next(lines, "")
    except (RecordTooLong, FileTooLarge, NotUtf8) as exc:
        problems.append(Problem(1, f"{_unreadable(exc, limits)}; the rest of the file was not read"))
        return iter(())
    reader = csv.reader(chain([first_line], lines), delimiter=_delimiter(first_line))
    return _records(reader, lines, limits, problems)


def parse_csv(stream: TextIO, limits: ImportLimits | None = None, *, smtputf8: bool = False) -> ParsedFile:
    """Read every row as it streams in; return the invoices and the problems (never stops at the first).

    `smtputf8`: whether the organisation's mail server takes non-ASCII names before the @.
    """
    limits = limits or ImportLimits()
    problems = ProblemLog()
    rows = csv_records(stream, limits, problems)
    first = next(rows, None)
    if first is None:
        if not problems:
            problems.append(Problem(1, "the file is empty (expected a header row)"))
        return ParsedFile([], problems, 0)
    header_line, header_row = first
    header = [name.strip().lower() for name in header_row]
    if _too_wide(header_line, header_row, limits, header, problems):
        return ParsedFile([], problems, 0)
    positions = _check_header(header, header_line, problems)
    if positions is None:
        return ParsedFile([], problems, sum(1 for _ in rows))
    invoices, row_count = _read_invoices(rows, header, limits, problems, smtputf8=smtputf8)
    return ParsedFile(invoices, problems, row_count)


def _read_invoices(
    rows: Iterator[Row],
    header: list[str],
    limits: ImportLimits,
    problems: ProblemLog,
    *,
    smtputf8: bool,
) -> tuple[list[InvoiceRecord], int]:
    """The invoices of the rows after the header (consecutive rows of one number are its lines),
    and how many rows there were."""
    invoices: list[InvoiceRecord] = []
    first_seen: dict[str, int] = {}
    customers = CustomerLedger()
    known_customers: dict[tuple[str, ...], CustomerRecord] = {}
    group = _Group()
    row_count = 0
    for line, row in rows:
        row_count += 1
        if _too_wide(line, row, limits, header, problems):
            continue
        reader = RowReader(line, problems)
        values = _row_values(row, header, reader)
        key = tuple(values.get(name, "") for name in INVOICE_COLUMNS)
        invoice_number = key[0]
        if invoice_number and invoice_number == group.number:
            if key != group.key:
                column = next(name for name, a, b in zip(INVOICE_COLUMNS, key, group.key, strict=True) if a != b)
                reader.report(
                    f"invoice {invoice_number}: {column} differs from line {group.line}; "
                    "the rows of one invoice must agree on the invoice and customer columns"
                )
        else:
            group.finish(problems)
            if invoice_number in first_seen:
                reader.report(
                    f"duplicate invoice number {invoice_number} (first seen on line {first_seen[invoice_number]})"
                )
            elif invoice_number:
                first_seen[invoice_number] = line
            group = _Group(_invoice(values, line, reader, known_customers, smtputf8=smtputf8), key, line)
            if group.invoice is not None:
                customers.check(group.invoice.customer, reader)
                invoices.append(group.invoice)
        group.add(_line(values, reader))
    group.finish(problems)
    return invoices, row_count


def _row_values(row: list[str], header: list[str], reader: RowReader) -> dict[str, str]:
    """Column name → cell; a short row is padded, extra non-empty cells are reported."""
    width = len(header)
    if len(row) > width and any(cell.strip() for cell in row[width:]):
        reader.report(f"this row has {len(row)} values but the header has {width} columns")
    if len(row) < width:
        row = row + [""] * (width - len(row))
    return dict(zip(header, row, strict=False))


class _Group:
    """The consecutive rows of one invoice while they are being read."""

    def __init__(self, invoice: InvoiceRecord | None = None, key: tuple[str, ...] = (), line: int = 0) -> None:
        self.invoice = invoice
        self.key = key
        self.number = key[0] if key else None
        self.line = line
        self.lines_ok = True

    def add(self, line: LineRecord | None) -> None:
        if line is None:
            self.lines_ok = False
        elif self.invoice is not None:
            self.invoice.lines.append(line)

    def finish(self, problems: ProblemLog) -> None:
        """Totals are judged only when every line could be read; a bad line is its own problem."""
        if self.invoice is not None and self.lines_ok:
            check_invoice(self.invoice, RowReader(self.invoice.line, problems))
