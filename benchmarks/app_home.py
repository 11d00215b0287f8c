"""App Home benchmark (issue 15): one person's dashboard in an organisation with 100,000 invoices.

Target: the whole view (`handlers.home.home_view_of`: the two counts, every section, the blocks)
renders in ≤ 50 ms p99 and ≤ 3× the hand-written SQL behind it, measured interleaved in the
same run. The data is the due-listing benchmark's (benchmarks/due_listing.py, set-based SQL into
a schema made by the real migrations) plus sends waiting for approval and queued. Prints p50,
p99 and the ratio; exit status 1 when a target is missed.

    .venv/bin/python -m benchmarks.app_home [--backend sqlite|postgres|both] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.due_listing import DATA_DIR, SENDING, TODAY, _time_cases, prepare
from handlers.context import Workplace
from handlers.home import HomeSubject, home_view_of
from services.authorization import ApprovalRules
from services.db.engine import create_engine
from services.db.migrate import upgrade

P99_TARGET_MS, RATIO_TARGET = 50.0, 3.0
APPROVER = "U0BENCHBOB"
RULES = ApprovalRules(approvers=frozenset({APPROVER}), admins=frozenset({APPROVER}))
# Some of the sends waiting: for approval (asked by someone else) and queued.
WAITING = (
    "UPDATE deliveries SET status = CASE WHEN id % 400 = 7 THEN 'awaiting_approval' ELSE 'queued' END"
    " WHERE status = 'accepted' AND (id % 400 = 7 OR id % 400 = 9)"
)

# The hand-written SQL behind the view, in the order the view reads it.
_SUMMARY = (
    "SELECT d.id, d.status, d.to_addresses, d.requested_by, d.created_at, d.updated_at, d.last_error, d.smtp_reply,"
    " i.number, i.total, i.currency, c.name, o.default_language, o.country FROM deliveries AS d"
    " JOIN invoices AS i ON i.id = d.invoice_id JOIN organisations AS o ON o.id = d.organisation_id"
    " JOIN customers AS c ON c.id = i.customer_id WHERE d.organisation_id = {o} AND d.kind = 'invoice' AND "
)
HAND = [
    "SELECT (SELECT count(*) FROM deliveries WHERE organisation_id = {o} AND kind = 'invoice'"
    " AND status = 'awaiting_approval' AND requested_by != '" + APPROVER + "'),"
    " (SELECT count(*) FROM deliveries WHERE organisation_id = {o} AND kind = 'invoice'"
    " AND status IN ('deferred', 'queued')),"
    " (SELECT count(*) FROM suppressions WHERE organisation_id = {o} AND active)",
    "SELECT count(*) FROM invoices WHERE organisation_id = {o} AND due_date <= {d}"
    " AND status IN ('draft', 'validated')",
    _SUMMARY + "d.status IN ('bounced', 'complained', 'dropped', 'failed', 'unknown')"
    " AND NOT EXISTS (SELECT 1 FROM deliveries AS l WHERE l.invoice_id = d.invoice_id AND l.kind = 'invoice'"
    " AND l.id > d.id AND l.status NOT IN ('cancelled', 'rejected'))"
    " AND i.status NOT IN ('paid', 'void') ORDER BY d.updated_at DESC, d.id DESC LIMIT 50",
    _SUMMARY + "d.status = 'awaiting_approval' AND d.requested_by != '" + APPROVER + "'"
    " ORDER BY d.created_at, d.id LIMIT 5",
    "SELECT email, reason, created_at FROM suppressions WHERE organisation_id = {o} AND active"
    " ORDER BY created_at DESC, id DESC LIMIT 5",
    "SELECT due_date, currency, sum(total), count(*) FROM invoices"
    " WHERE organisation_id = {o} AND status IN ('validated', 'sent') AND due_date <= {d} GROUP BY due_date, currency",
    "SELECT i.due_date, i.currency, sum(p.amount) FROM invoices AS i JOIN payments AS p ON p.invoice_id = i.id"
    " WHERE i.organisation_id = {o} AND i.status IN ('validated', 'sent') AND i.due_date <= {d}"
    " GROUP BY i.due_date, i.currency",
    _SUMMARY + "d.status IN ('deferred', 'queued') ORDER BY d.created_at, d.id LIMIT 5",
    _SUMMARY + "d.status NOT IN ('awaiting_approval', 'cancelled', 'deferred', 'queued', 'rejected')"
    " ORDER BY d.created_at DESC, d.id DESC LIMIT 5",
]


async def hand_sql(engine: AsyncEngine, org_id: int) -> int:
    """Every query behind the view, as literals (no ORM, no formatting, no blocks), on a connection
    checked out of the pool as the view's session does; rows read."""
    async with engine.connect() as conn:
        return await _hand_sql(conn, org_id)


async def _hand_sql(conn: AsyncConnection, org_id: int) -> int:
    sqlite = conn.dialect.name == "sqlite"

    def day(days: int) -> str:
        text = (TODAY - timedelta(days=days)).isoformat()
        return f"'{text}'" if sqlite else f"DATE '{text}'"

    values = {"o": str(org_id), "d": day(0)}
    read = 0
    for statement in HAND:
        read += len((await conn.exec_driver_sql(statement.format(**values))).all())
    return read


def _ms(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return statistics.median(ordered) / 1e6, p99 / 1e6


async def home_data(backend: str, args: argparse.Namespace) -> tuple[AsyncEngine, str]:
    """The due-listing data (its SQLite file copied, so that benchmark's cache stays as it was) plus
    the waiting sends, migrated to the current schema (this branch's indexes included)."""
    engine, origin = await prepare(backend, args.rows, args.postgres_url, args.rebuild)
    if backend == "sqlite":
        source = engine.url.database
        await engine.dispose()
        assert source is not None
        copy = DATA_DIR / f"app_home-{args.rows}.db"
        shutil.copyfile(source, copy)
        await asyncio.to_thread(upgrade, f"sqlite:///{copy}")
        engine = create_engine(f"sqlite:///{copy}")
    async with engine.begin() as conn:
        await conn.exec_driver_sql(WAITING)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    return engine, origin


async def run_backend(backend: str, args: argparse.Namespace) -> bool:
    engine, origin = await home_data(backend, args)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with AsyncSession(engine) as session:
        conn = await session.connection()
        org_id = int((await conn.exec_driver_sql("SELECT min(id) FROM organisations")).scalar_one())
        invoices = (await conn.exec_driver_sql("SELECT count(*) FROM invoices")).scalar_one()
        sends = (await conn.exec_driver_sql("SELECT count(*) FROM deliveries")).scalar_one()
        subject = HomeSubject(
            user_id=APPROVER,
            workplace=Workplace(organisation_id=org_id, sending=SENDING, today=TODAY, locale="en_GB"),
            rules=RULES,
            sessions=sessions,
            client=AsyncWebClient(),  # never called: the view is built, not published
        )
        view = await home_view_of(subject)
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "render": lambda: home_view_of(subject),
            "sql": lambda: hand_sql(engine, org_id),
        }
        samples = await _time_cases(cases, warmup=args.warmup, iterations=args.iterations)
    await engine.dispose()
    render_p50, render_p99 = _ms(samples["render"])
    sql_p50, sql_p99 = _ms(samples["sql"])
    ratio = render_p50 / sql_p50
    ok = render_p99 <= P99_TARGET_MS and ratio <= RATIO_TARGET
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\n== {backend}: {invoices:,} invoices, {sends:,} sends, data {origin};"
        f" the view has {len(view['blocks'])} blocks; load average {load} on {os.cpu_count()} CPUs"
    )
    print(f"   {'':<40}{'p50':>10}{'p99':>10}   target")
    print(f"   {'render (home_view_of)':<40}{render_p50:>8.2f}ms{render_p99:>8.2f}ms   p99 ≤ {P99_TARGET_MS:g} ms")
    print(f"   {'hand-written SQL behind it':<40}{sql_p50:>8.2f}ms{sql_p99:>8.2f}ms")
    print(f"   {'ratio render / SQL (p50)':<40}{ratio:>10.2f}{'':>10}   ≤ {RATIO_TARGET:g}  {'ok' if ok else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/h_home_bench")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data even if a cached copy exists")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(f"App Home benchmark: {args.rows:,} invoices, today {TODAY}, {args.iterations} iterations after warm-up")
    results = [asyncio.run(run_backend(backend, args)) for backend in backends]
    print("\nall targets met" if all(results) else "\nSOME TARGETS MISSED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
