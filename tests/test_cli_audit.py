"""`invoicebot audit verify` and `invoicebot audit export`, the real console script against the test database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import AuditLog


async def test_verify_passes_then_names_the_entry_edited_with_sql_and_exits_1(
    run: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert run("db", "upgrade").returncode == 0
    assert run("seed", "--today", "2026-11-23").returncode == 0
    assert run("invoices", "paid", "DEMO-0019").returncode == 0

    intact = run("audit", "verify")

    assert intact.returncode == 0, intact.stderr
    assert "chain intact" in intact.stdout
    async with sessions() as session:
        sealed = await session.scalar(select(func.count()).where(AuditLog.chain_index.is_not(None)))
        total = await session.scalar(select(func.count()).select_from(AuditLog))
        paid = await session.scalar(select(AuditLog.id).where(AuditLog.action == "invoice.paid"))
        assert sealed == total and total is not None and total >= 2
        await session.execute(
            text("UPDATE audit_log SET actor = 'U0MALLORY' WHERE id = :id"),
            {"id": paid},
        )
        await session.commit()

    tampered = run("audit", "verify")

    assert tampered.returncode == 1
    assert f"audit entry {paid} " in tampered.stderr
    assert "does not match its hash (its content was changed)" in tampered.stderr


async def test_export_writes_csv_and_json_since_a_day_and_refuses_a_bad_day(run: Any, tmp_path: Any) -> None:
    assert run("db", "upgrade").returncode == 0
    assert run("seed", "--today", "2026-11-23").returncode == 0
    assert run("invoices", "paid", "DEMO-0019").returncode == 0
    assert run("audit", "verify").returncode == 0  # seals, so the export carries the hashes

    as_csv = run("audit", "export", "--since", "2000-01-01")
    as_json = run("audit", "export", "--since", "2000-01-01", "--format", "json", "--output", str(tmp_path / "a.json"))
    future = run("audit", "export", "--since", "2999-01-01", "--format", "json")
    bad_day = run("audit", "export", "--since", "yesterday")
    bad_format = run("audit", "export", "--since", "2000-01-01", "--format", "xml")

    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    paid = [row for row in rows if row["action"] == "invoice.paid"]
    assert len(paid) == 1 and paid[0]["actor"] == "cli" and json.loads(paid[0]["detail"])["number"] == "DEMO-0019"
    assert all(len(row["entry_hash"]) == 64 for row in rows)
    assert as_json.returncode == 0, as_json.stderr
    assert f"wrote {len(rows)} audit entries" in as_json.stdout
    exported = json.loads((tmp_path / "a.json").read_text())
    assert [entry["id"] for entry in exported] == [int(row["id"]) for row in rows]
    assert (future.returncode, json.loads(future.stdout)) == (0, [])
    assert bad_day.returncode == 2 and "'yesterday' is not a date like 2026-11-23" in bad_day.stderr
    assert bad_format.returncode == 2 and "use csv or json" in bad_format.stderr
