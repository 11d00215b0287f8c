"""`invoicebot payments import FILE.csv`: reading a bank export's lines (services.payments_import records them).

The file is read by the same CSV reader and field checks as the invoice import
(services.importing.csv_rows, .records): `,` `;` or tab separated, a header naming the
columns, problems as "line N: reason" with the file's own line numbers. Columns: `amount`,
`date` (YYYY-MM-DD), and `invoice_number` or `reference` (or both): a line without an
invoice number is matched through `invoice_for_reference` (services.invoicing.payments) by
the use case that records the lines (this module stays free of the invoicing rules).

Each line carries an idempotency key (invoice + amount + date + reference) that a unique
constraint on payments holds, so importing the same file again records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from services.db.models import PAYMENT_REFERENCE_LENGTH
from services.importing.csv_rows import csv_records
from services.importing.limits import ImportLimits, Problem, ProblemLog
from services.importing.records import RowReader, iso_date, number, text

PAYMENT_COLUMNS = ("invoice_number", "reference", "amount", "date")


@dataclass(frozen=True)
class PaymentLine:
    line: int
    invoice_number: str  # "" when the line names its invoice by reference only
    amount: Decimal
    paid_on: date
    reference: str

    def idempotency_key(self, number: str) -> str:
        """invoice + amount + date + reference: the same bank line, however written (50 = 50.00)."""
        amount = format(self.amount.normalize(), "f")
        return f"import:{number}|{amount}|{self.paid_on.isoformat()}|{self.reference}"


@dataclass
class PaymentImport:
    """What an import did: payments recorded (with their line), lines recorded before, problems."""

    recorded: list[tuple[int, Any]] = field(default_factory=list)  # (line, services.invoicing.payments.PaymentRecorded)
    repeated: list[int] = field(default_factory=list)
    problems: ProblemLog = field(default_factory=ProblemLog)
    lines: int = 0


def _positions(header: list[str], line: int, problems: ProblemLog) -> dict[str, int] | None:
    found = problems.count
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if name and name not in PAYMENT_COLUMNS:
            columns = ", ".join(PAYMENT_COLUMNS)
            problems.append(Problem(line, f"unknown column {name!r} (the columns are: {columns})"))
        elif name in positions:
            problems.append(Problem(line, f"column {name!r} appears twice"))
        elif name:
            positions[name] = index
    for name in ("amount", "date"):
        if name not in positions:
            problems.append(Problem(line, f"missing required column {name!r}"))
    if "invoice_number" not in positions and "reference" not in positions:
        problems.append(Problem(line, "missing column 'invoice_number' or 'reference' (one of them is required)"))
    return None if problems.count > found else positions


def _payment_line(line: int, row: list[str], positions: dict[str, int], problems: ProblemLog) -> PaymentLine | None:
    values = {name: (row[index] if index < len(row) else "") for name, index in positions.items()}
    reader = RowReader(line, problems)
    reference = reader.read(
        text, values.get("reference", ""), "reference", max_length=PAYMENT_REFERENCE_LENGTH, required=False
    )
    invoice = reader.read(text, values.get("invoice_number", ""), "invoice_number", max_length=64, required=False)
    amount = reader.read(number, values["amount"], "amount", allow_negative=False)
    paid_on = reader.read(iso_date, values["date"], "date")
    if reader.ok and not invoice and not reference:
        reader.report("no invoice_number and no reference: this line matches no invoice")
    if not reader.ok or amount is None or paid_on is None:
        return None
    return PaymentLine(line, invoice or "", amount, paid_on, reference or "")


def read_payment_lines(stream: TextIO, problems: ProblemLog, limits: ImportLimits | None = None) -> list[PaymentLine]:
    """The file's readable lines; each unreadable one becomes a problem (the others are still read)."""
    rows = csv_records(stream, limits or ImportLimits(), problems)
    first = next(rows, None)
    if first is None:
        if not problems.count:
            problems.append(Problem(1, "the file is empty (expected a header row)"))
        return []
    header_line, header_row = first
    positions = _positions([name.strip().lower() for name in header_row], header_line, problems)
    if positions is None:
        return []
    parsed = (_payment_line(line, row, positions, problems) for line, row in rows)
    return [payment for payment in parsed if payment is not None]
