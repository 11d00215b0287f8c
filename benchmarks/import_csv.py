"""Benchmark: import a 100,000-invoice CSV (≈3 lines each) — the target is ≤ 30 s per backend.

    .venv/bin/python benchmarks/import_csv.py                       # SQLite only
    .venv/bin/python benchmarks/import_csv.py --postgres postgresql://postgres@127.0.0.1:5432/bench_import

The file is generated into a temporary directory; each backend gets a freshly migrated,
empty database (the PostgreSQL database given is EMPTIED: its public schema is dropped).
The import runs in-process through the same service the CLI uses (`import_file`), in one
transaction, and the time includes reading, checking, writing and the commit. Then the
same file is imported again, which must find every invoice unchanged (the re-import path).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import Organisation
from services.importing.csv_rows import COLUMNS
from services.importing.loader import import_file
from services.invoicing.totals import LineAmounts, compute_totals

TARGET_SECONDS = 30.0


def generate(path: Path, invoices: int, customers: int, seed: int = 7) -> int:
    """Write the CSV; return its number of data rows."""
    rng = random.Random(seed)
    currencies = ("EUR", "GBP", "CHF", "USD")
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(invoices):
            c = n % customers
            currency = currencies[c % len(currencies)]
            lines = [
                (f"Service {k + 1}", Decimal(rng.randint(1, 20)), Decimal(rng.randint(100, 99999)) / 100, rate)
                for k, rate in enumerate(rng.choice(((20, 20, 5), (20, 0), (19, 7, 7, 0))))
            ]
            total = compute_totals((LineAmounts(q, p, Decimal(r)) for _, q, p, r in lines), currency).total
            day = 1 + n % 28
            for description, quantity, price, rate in lines:
                writer.writerow(
                    (
                        f"BENCH-{n:07d}",
                        f"C{c:05d}",
                        f"Customer {c} Ltd",
                        f"ap@customer{c}.example",
                        "",
                        "en",
                        f"{c} High Street\\nTown",
                        "GB",
                        f"GB{c:09d}",
                        f"2026-10-{day:02d}",
                        f"2026-11-{day:02d}",
                        currency,
                        "validated" if n % 3 else "draft",
                        str(total),
                        description,
                        str(quantity),
                        str(price),
                        str(rate),
                    )
                )
                rows += 1
    return rows


async def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def timed_import(url: str, path: Path) -> tuple[float, str]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        organisation = (await session.execute(text("SELECT id FROM organisations"))).scalar()
        if organisation is None:
            row = Organisation(name="Benchmark Ltd")
            session.add(row)
            await session.commit()
            organisation = row.id
        started = time.perf_counter()
        summary = await import_file(session, organisation_id=organisation, path=path, actor="benchmark")
        await session.commit()
        elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed, (
        f"{summary.invoices_created} created, {summary.invoices_updated} updated, "
        f"{summary.invoices_unchanged} unchanged"
    )


def run_backend(name: str, url: str, path: Path, rows: int) -> bool:
    upgrade(url)
    ok = True
    for label in ("first import", "re-import"):
        elapsed, what = asyncio.run(timed_import(url, path))
        verdict = "ok" if elapsed <= TARGET_SECONDS else "TOO SLOW"
        ok = ok and elapsed <= TARGET_SECONDS
        print(
            f"{name:10} {label:12} {elapsed:7.2f} s  {rows / elapsed:9,.0f} rows/s  "
            f"(target ≤ {TARGET_SECONDS:.0f} s: {verdict}; ratio to target {elapsed / TARGET_SECONDS:.2f})  {what}"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database (it is emptied)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "invoices.csv"
        started = time.perf_counter()
        rows = generate(path, args.invoices, args.customers)
        print(
            f"generated {args.invoices:,} invoices / {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        ok = True
        if not args.no_sqlite:
            ok &= run_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", path, rows)
        if args.postgres:
            asyncio.run(reset_postgres(args.postgres))
            ok &= run_backend("postgresql", args.postgres, path, rows)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
