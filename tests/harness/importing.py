"""Importing a file through the real service as a test writes it: the CSV header, an invoice object, a run.

`rejected` answers the problems of a refused file, after checking the session is usable again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation
from services.errors import ImportRejected
from services.importing.loader import ImportSummary, import_file

HEADER = (
    "invoice_number,customer_ref,customer_name,customer_emails,customer_cc,customer_language,"
    "issue_date,due_date,currency,status,description,quantity,unit_price,tax_rate,invoice_total"
)


def write_csv(tmp_path: Path, rows: list[str], name: str = "invoices.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def run_import(session: AsyncSession, org: Organisation, path: Path) -> ImportSummary:
    summary = await import_file(session, organisation_id=org.id, path=path, actor="tester")
    await session.commit()
    return summary


async def rejected(session: AsyncSession, org: Organisation, path: Path) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        await import_file(session, organisation_id=org.id, path=path, actor="tester")
    await session.rollback()
    await session.refresh(org)
    return caught.value.problems


def invoice_object(number: str = "J-1", **changes: Any) -> dict[str, Any]:
    data = {
        "number": number,
        "customer": {"ref": "ACME", "name": "Acme Corp", "emails": ["ap@acme.example"], "language": "en"},
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "currency": "EUR",
        "status": "validated",
        "lines": [
            {"description": "Consulting", "quantity": 2, "unit_price": "100.00", "tax_rate": 20},
            {"description": "Books", "quantity": 1, "unit_price": 10.5, "tax_rate": 0},
        ],
        "total": "250.50",
    }
    data.update(changes)
    return data


def write_json(tmp_path: Path, objects: list[dict[str, Any]]) -> Path:
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps(objects, indent=2), encoding="utf-8")
    return path
