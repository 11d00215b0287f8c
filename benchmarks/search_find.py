"""`/invoices find` benchmark (issue 15, item 7): find by number, customer and amount at 100,000
invoices, `find_invoices` vs the hand-written SQL of the same rows, measured in the same run.

The data is benchmarks.due_listing's (same generator, same cache; 1,000 customers named
"Customer 0042 Ltd"). Each case runs the service (the first 10 matches with the count of all
as a window, customer names folded in Python, then the page's latest emails) and a
hand-written baseline of the same shape (the customer matched by `lower(name) LIKE` in SQL;
each way of matching on its index, their ids united), interleaved in a shuffled order; it
checks both return the same invoices and prints p50/p99 and the ratio of the medians. No
target is enforced: the figures are for the report.

    .venv/bin/python -m benchmarks.search_find [--backend sqlite|postgres|both] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from benchmarks.due_listing import _time_cases, prepare
from services.invoicing.search import find_invoices, spellings

# The same three ways, each on its index, united (an OR over them scans every invoice).
HAND_WHERE = (
    "i.id IN (SELECT id FROM invoices WHERE organisation_id = {o}"
    " AND lower(number) LIKE {n} ESCAPE '\\' UNION SELECT id FROM invoices WHERE"
    " customer_id IN (SELECT id FROM customers WHERE organisation_id = {o}"
    " AND (lower(ref) = {r} OR lower(name) LIKE {n} ESCAPE '\\'))"
    " UNION SELECT id FROM invoices WHERE organisation_id = {o} AND total IN ({a}))"
)
HAND_LATEST = (
    "SELECT id, invoice_id, status, to_addresses, recipient_results, last_error, requested_by, created_at, updated_at"
    " FROM deliveries WHERE id IN (SELECT max(id) FROM deliveries WHERE invoice_id IN ({0}) AND kind = 'invoice'"
    " AND status NOT IN ('cancelled', 'rejected') GROUP BY invoice_id)"
)


async def hand_find(conn: AsyncConnection, org_id: int, text: str, amounts: list[Any]) -> Sequence[tuple[Any, ...]]:
    """`amounts`: the exact spellings of the amount written (none: a value no invoice has)."""
    dialect = conn.dialect.name
    values: list[Any] = [str(amount) if dialect == "sqlite" else amount for amount in amounts]
    values = values or (["-1"] if dialect == "sqlite" else [Decimal(-1)])
    if dialect == "sqlite":
        marks = {"o": "?1", "n": "?2", "r": "?3", "a": ", ".join(f"?{k + 4}" for k in range(len(values)))}
    else:
        marks = {"o": "$1", "n": "$2", "r": "$3", "a": ", ".join(f"${k + 4}" for k in range(len(values)))}
    where = HAND_WHERE.format(**marks)
    params = (org_id, f"%{text.lower()}%", text.lower(), *values)
    rows: Sequence[tuple[Any, ...]] = (
        await conn.exec_driver_sql(
            "SELECT i.id, i.number, c.name, i.total, i.currency, i.status, i.sent_via, count(*) OVER ()"
            " FROM invoices AS i"
            f" JOIN customers AS c ON c.id = i.customer_id WHERE {where}"
            " ORDER BY i.issue_date DESC, i.id DESC LIMIT 10",
            params,
        )
    ).all()
    if rows:
        ids = tuple(row[0] for row in rows)
        listed = ["?"] * len(ids) if dialect == "sqlite" else [f"${k + 1}" for k in range(len(ids))]
        await conn.exec_driver_sql(HAND_LATEST.format(", ".join(listed)), ids)
    return rows


def _ms(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1e6, ordered[max(0, int(len(ordered) * 0.99) - 1)] / 1e6


async def run_backend(backend: str, args: argparse.Namespace) -> None:
    engine, origin = await prepare(backend, args.rows, args.postgres_url, args.rebuild)
    async with AsyncSession(engine) as session:
        conn = await session.connection()
        org_id = (await conn.exec_driver_sql("SELECT min(id) FROM organisations")).scalar_one()
        number = (await conn.exec_driver_sql("SELECT number FROM invoices WHERE id = 50001")).scalar_one()
        total = (await conn.exec_driver_sql("SELECT total FROM invoices WHERE id = 4242")).scalar_one()
        written = f"{float(total):.2f}"
        cases_in: dict[str, tuple[str, list[Decimal]]] = {
            "number": (number, []),
            "customer": ("customer 0042", []),
            "amount": (written, spellings(Decimal(written))),
        }
        cases: dict[str, Callable[[], Awaitable[Any]]] = {}
        found: dict[str, int] = {}
        for kind, (text, amount) in cases_in.items():
            result = await find_invoices(session, organisation_id=org_id, text=text)
            hand = await hand_find(conn, org_id, text, amount)
            assert [i.number for i in result.items] == [row[1] for row in hand], f"{kind}: service and SQL differ"
            found[kind] = result.total_count

            def service(text: str = text) -> Awaitable[Any]:
                return find_invoices(session, organisation_id=org_id, text=text)

            def baseline(text: str = text, amount: list[Decimal] = amount) -> Awaitable[Any]:
                return hand_find(conn, org_id, text, amount)

            cases[f"{kind} service"] = service
            cases[f"{kind} SQL"] = baseline
        samples = await _time_cases(cases, warmup=args.warmup, iterations=args.iterations)
        invoices = (await conn.exec_driver_sql("SELECT count(*) FROM invoices")).scalar_one()
        print(f"\n== {backend} — {invoices:,} invoices, data {origin}")
        print(f"   {'':<44}{'p50':>10}{'p99':>10}")
        for kind, (text, _) in cases_in.items():
            service_p50, service_p99 = _ms(samples[f"{kind} service"])
            sql_p50, sql_p99 = _ms(samples[f"{kind} SQL"])
            label = f"find “{text}” ({found[kind]} found)"
            print(f"   {label + ' find_invoices':<44}{service_p50:>8.3f}ms{service_p99:>8.3f}ms")
            print(f"   {label + ' hand SQL':<44}{sql_p50:>8.3f}ms{sql_p99:>8.3f}ms")
            print(f"   {kind + ' ratio of medians service / SQL':<44}{service_p50 / sql_p50:>10.2f}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/bench_search")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print(f"find benchmark: {args.rows:,} invoices, {args.iterations} iterations after {args.warmup} warm-up")
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        asyncio.run(run_backend(backend, args))


if __name__ == "__main__":
    main()
