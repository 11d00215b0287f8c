"""`invoicebot import` as a use case: the file imported (services.importing) and, in the same unit
of work, each invoice its credit notes now settle closed (services.invoicing.payments), as a payment
that settles one closes it. Importing knows no invoice transitions; this joins the two."""

from __future__ import annotations

from pathlib import Path

from services.importing.limits import ImportLimits
from services.importing.loader import ImportSummary, Progress, import_file
from services.invoicing.payments import close_credited_invoices
from services.unit_of_work import UnitsOfWork


async def run_invoice_import(
    units: UnitsOfWork,
    *,
    organisation_id: int,
    path: Path,
    actor: str,
    progress: Progress | None = None,
    limits: ImportLimits | None = None,
) -> ImportSummary:
    """Import `path` and close the invoices its credit notes settle; committed when this returns,
    and a rejected file (ImportRejected, InvalidInput) rolls back and imports nothing."""
    async with units() as unit:
        summary = await import_file(
            unit.session, organisation_id=organisation_id, path=path, actor=actor, progress=progress, limits=limits
        )
        await close_credited_invoices(
            unit.session, organisation_id=organisation_id, invoice_ids=summary.corrected_invoice_ids, actor=actor
        )
        return summary
