"""`invoicebot import FILE`: load invoices and customers from CSV or JSON, all or nothing.

The whole file is checked before anything is written; any problem rejects the file with
`ImportRejected`, listing the first 100 problems as "line N: reason" and counting the
rest, and the database is left as it was. Files are read within `ImportLimits` (size,
columns, field length; CSV streamed, JSON size-checked before parsing), so no file can
exhaust memory or print a traceback. Then, in the caller's transaction: customers are upserted by
reference; new invoice numbers are created; unsent (draft/validated) invoices with the
same number are replaced (fields and lines); sent, paid and void invoices are never
changed — re-importing one with identical content is simply "unchanged". One audit entry
records the import. The caller commits; `run_import` is the same in a unit of work of its own.

Built for large files (100,000 invoices in well under 30 s): existing rows are looked up
in chunks of `CHUNK` numbers, and rows are written with bulk Core INSERTs/UPDATEs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.email.verification import accepts_smtputf8
from services.errors import ImportRejected, InvalidInput
from services.importing.csv_rows import parse_csv
from services.importing.json_rows import parse_json
from services.importing.limits import BoundedLines, ImportLimits, Problem, ProblemLog
from services.importing.records import ParsedFile
from services.importing.store import ImportPlan, plan_import, write_plan
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; `rows` counts the invoice lines read from the file."""

    rows: int
    invoices_created: int
    invoices_updated: int
    invoices_unchanged: int
    customers_created: int
    customers_updated: int
    # The invoices the file's credit notes correct (services.invoice_import closes the settled ones).
    corrected_invoice_ids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def invoices(self) -> int:
        return self.invoices_created + self.invoices_updated + self.invoices_unchanged


_COUNTS = (
    "rows",
    "invoices_created",
    "invoices_updated",
    "invoices_unchanged",
    "customers_created",
    "customers_updated",
)


def read_import_file(path: Path, *, limits: ImportLimits, smtputf8: bool = False) -> ParsedFile:
    """Parse a .csv or .json file (UTF-8) within `limits`. Blocking: run it in a thread.

    `smtputf8`: whether the organisation's mail server offers SMTPUTF8 (non-ASCII names
    before the @ are refused without it, as in the review modal).

    Raises InvalidInput (one sentence) for a file that cannot be read at all.
    """
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("csv", "json"):
        raise InvalidInput(f"Cannot import {path.name}: give a .csv or a .json file.")
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise InvalidInput(_too_large(path, limits))
        if kind == "csv":
            with BoundedLines.open(path) as stream:
                return parse_csv(stream, limits, smtputf8=smtputf8)
        with path.open(encoding="utf-8-sig") as stream:
            content = stream.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise InvalidInput(f"There is no file {str(path)!r}.") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    if len(content) > limits.max_bytes:
        raise InvalidInput(_too_large(path, limits))
    return parse_json(content, smtputf8=smtputf8)


def _too_large(path: Path, limits: ImportLimits) -> str:
    return (
        f"{path.name} is larger than {limits.max_bytes:,} bytes, the most an import takes "
        "(INVOICEBOT_IMPORT_MAX_BYTES); split it into smaller files."
    )


def rejection(problems: Iterable[Problem]) -> ImportRejected:
    """The first `MAX_PROBLEMS_SHOWN` problems by line, and how many there are in all."""
    log = problems if isinstance(problems, ProblemLog) else ProblemLog()
    if log is not problems:
        log.extend(problems)
    return ImportRejected([str(problem) for problem in log.shown()], total=log.count)


async def import_invoices(
    session: AsyncSession,
    *,
    organisation_id: int,
    parsed: ParsedFile,
    actor: str,
    source: str,
    progress: Progress | None = None,
) -> ImportSummary:
    """Compare the records of a file read without problems with the database and write them.

    Raises ImportRejected without writing anything if a record would change a sent, paid
    or void invoice.
    """
    invoices = parsed.invoices
    plan: ImportPlan = await plan_import(session, organisation_id=organisation_id, invoices=invoices)
    if plan.problems:
        raise rejection(plan.problems)
    await write_plan(session, organisation_id=organisation_id, plan=plan, progress=progress)
    summary = ImportSummary(
        rows=parsed.row_count,
        invoices_created=len(plan.new_invoices),
        invoices_updated=len(plan.changed_invoices),
        invoices_unchanged=plan.unchanged_invoices,
        customers_created=len(plan.new_customers),
        customers_updated=len(plan.changed_customers),
        corrected_invoice_ids=tuple(sorted(set(plan.corrected_ids.values()))),
    )
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="import",
        subject_type="import",
        subject_id=None,
        detail={"source": source, **{name: getattr(summary, name) for name in _COUNTS}},
    )
    await write_owed(session, audits=[entry])
    await session.flush()
    return summary


async def import_file(
    session: AsyncSession,
    *,
    organisation_id: int,
    path: Path,
    actor: str,
    progress: Progress | None = None,
    limits: ImportLimits | None = None,
) -> ImportSummary:
    """Import a .csv or .json file (UTF-8). Raises ImportRejected, or InvalidInput for an unreadable file."""
    # Reading and checking is CPU and disk work: keep it off the event loop so a running bot stays responsive.
    smtputf8 = await accepts_smtputf8(session, organisation_id=organisation_id)
    parsed = await asyncio.to_thread(read_import_file, path, limits=limits or ImportLimits(), smtputf8=smtputf8)
    if parsed.problems:
        raise rejection(parsed.problems)
    return await import_invoices(
        session,
        organisation_id=organisation_id,
        parsed=parsed,
        actor=actor,
        source=path.name,
        progress=progress,
    )


async def run_import(
    units: UnitsOfWork,
    *,
    organisation_id: int,
    path: Path,
    actor: str,
    progress: Progress | None = None,
    limits: ImportLimits | None = None,
) -> ImportSummary:
    """`invoicebot import`: `import_file` in a unit of work, committed when this returns; a rejected
    file (ImportRejected, InvalidInput) rolls back and imports nothing."""
    async with units() as unit:
        return await import_file(
            unit.session, organisation_id=organisation_id, path=path, actor=actor, progress=progress, limits=limits
        )
