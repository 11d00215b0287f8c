"""CSV import files: one row per invoice line, the rows of one invoice next to each other.

The format is documented in the README ("Import format"). The header names the columns
(any order; `,` `;` or tab separated, detected from the header). Invoice and customer
columns repeat on every row of an invoice and must agree; line numbers in problems are
the file's own line numbers (the header is line 1), so a user can jump to them.
"""

from __future__ import annotations

import csv
import io

from services.importing_records import (
    CustomerLedger,
    CustomerRecord,
    InvoiceRecord,
    LineRecord,
    ParsedFile,
    Problem,
    RowReader,
    check_invoice,
    country,
    currency,
    emails,
    iso_date,
    language,
    number,
    optional_text,
    quantity,
    status,
    tax_rate,
    text,
)

INVOICE_COLUMNS = (
    "invoice_number",
    "customer_ref",
    "customer_name",
    "customer_emails",
    "customer_cc",
    "customer_language",
    "customer_address",
    "customer_country",
    "customer_tax_id",
    "issue_date",
    "due_date",
    "currency",
    "status",
    "invoice_total",
)
LINE_COLUMNS = ("description", "quantity", "unit_price", "tax_rate")
COLUMNS = INVOICE_COLUMNS + LINE_COLUMNS
OPTIONAL_COLUMNS = frozenset(
    {
        "customer_emails",
        "customer_cc",
        "customer_language",
        "customer_address",
        "customer_country",
        "customer_tax_id",
        "status",
    }
)
REQUIRED_COLUMNS = tuple(column for column in COLUMNS if column not in OPTIONAL_COLUMNS)


def _delimiter(header_line: str) -> str:
    counts = {candidate: header_line.count(candidate) for candidate in (",", ";", "\t")}
    return max(counts, key=lambda candidate: counts[candidate])


def _check_header(header: list[str], line: int, problems: list[Problem]) -> dict[str, int] | None:
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
    return None if problems else positions


def _customer(values: dict[str, str], reader: RowReader) -> CustomerRecord | None:
    ref = reader.read(text, values.get("customer_ref"), "customer_ref", max_length=64)
    name = reader.read(text, values.get("customer_name"), "customer_name", max_length=200)
    to = reader.read(emails, values.get("customer_emails"), "customer_emails")
    cc = reader.read(emails, values.get("customer_cc"), "customer_cc")
    lang = reader.read(language, values.get("customer_language"))
    address = reader.read(text, values.get("customer_address"), "customer_address", max_length=2000, required=False)
    land = reader.read(country, values.get("customer_country"))
    tax_id = reader.read(optional_text, values.get("customer_tax_id"), "customer_tax_id", max_length=64)
    if ref is None or name is None or to is None or cc is None or lang is None or address is None:
        return None
    return CustomerRecord(ref, name, to, cc, lang, address.replace("\\n", "\n"), land, tax_id)


CUSTOMER_COLUMNS = tuple(column for column in INVOICE_COLUMNS if column.startswith("customer_"))


def _invoice(
    values: dict[str, str], line: int, reader: RowReader, known: dict[tuple[str, ...], CustomerRecord]
) -> InvoiceRecord | None:
    """`known` caches customers already read from identical cells (checking addresses is slow)."""
    invoice_number = reader.read(text, values.get("invoice_number"), "invoice_number", max_length=64)
    cells = tuple(values.get(column, "") for column in CUSTOMER_COLUMNS)
    customer = known.get(cells)
    if customer is None:
        customer = _customer(values, reader)
        if customer is not None:
            known[cells] = customer
    issued = reader.read(iso_date, values.get("issue_date"), "issue_date")
    due = reader.read(iso_date, values.get("due_date"), "due_date")
    code = reader.read(currency, values.get("currency"))
    state = reader.read(status, values.get("status"))
    total = reader.read(number, values.get("invoice_total"), "invoice_total")
    if None in (invoice_number, customer, issued, due, code, state, total):
        return None
    return InvoiceRecord(line, invoice_number, customer, issued, due, code, state, total)  # type: ignore[arg-type]


def _line(values: dict[str, str], reader: RowReader) -> LineRecord | None:
    description = reader.read(text, values.get("description"), "description", max_length=2000)
    count = reader.read(quantity, values.get("quantity"))
    price = reader.read(number, values.get("unit_price"), "unit_price")
    rate = reader.read(tax_rate, values.get("tax_rate"))
    if description is None or count is None or price is None or rate is None:
        return None
    return LineRecord(description, count, price, rate)


def _rows(content: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Each non-empty record with the file line it starts on (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(content), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    previous_end = 0
    for row in reader:
        start, previous_end = previous_end + 1, reader.line_num
        if row and (len(row) > 1 or row[0].strip()):
            rows.append((start, row))
    return rows


def parse_csv(content: str) -> ParsedFile:
    """Read every row; return the invoices and every problem (never stops at the first)."""
    problems: list[Problem] = []
    first_line = content.split("\n", 1)[0]
    try:
        rows = _rows(content, _delimiter(first_line))
    except csv.Error as exc:
        return ParsedFile([], [Problem(1, f"the file is not readable CSV: {exc}")], 0)
    if not rows:
        return ParsedFile([], [Problem(1, "the file is empty (expected a header row)")], 0)
    header_line, header_row = rows[0]
    header = [name.strip().lower() for name in header_row]
    positions = _check_header(header, header_line, problems)
    if positions is None:
        return ParsedFile([], problems, len(rows) - 1)

    invoices: list[InvoiceRecord] = []
    first_seen: dict[str, int] = {}
    customers = CustomerLedger()
    known_customers: dict[tuple[str, ...], CustomerRecord] = {}
    group = _Group()
    width = len(header)
    for line, row in rows[1:]:
        reader = RowReader(line, problems)
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            reader.report(f"this row has {len(row)} values but the header has {width} columns")
        if len(row) < width:
            row = row + [""] * (width - len(row))
        values = dict(zip(header, row, strict=False))
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
            group = _Group(_invoice(values, line, reader, known_customers), key, line)
            if group.invoice is not None:
                customers.check(group.invoice.customer, reader)
                invoices.append(group.invoice)
        group.add(_line(values, reader))
    group.finish(problems)
    return ParsedFile(invoices, problems, len(rows) - 1)


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

    def finish(self, problems: list[Problem]) -> None:
        """Totals are judged only when every line could be read; a bad line is its own problem."""
        if self.invoice is not None and self.lines_ok:
            check_invoice(self.invoice, RowReader(self.invoice.line, problems))
