"""Due-listing benchmark (issue 2): first page and count at 1,000,000 invoices, ORM vs hand-written SQL.

Targets: page ≤ 2 ms median, count ≤ 10 ms median, each ≤ 1.5× the hand-written SQL of the
same rows measured in the same run, on SQLite and on PostgreSQL. The script builds its own
data with set-based SQL into a schema made by the real migrations, checks both paths return
the same rows, times them interleaved (so machine noise hits both alike), prints medians,
p90s and ratios, and EXPLAINs the exact SQL the ORM sent to show the partial index is used.
Exit status 1 when a target is missed.

    .venv/bin/python -m benchmarks.due_listing [--backend sqlite|postgres|both] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.db.engine import create_engine
from services.db.migrate import upgrade
from services.sending.due import DueQuery, count_due_invoices, list_due_invoices
from services.sending.readiness import SendingState

TODAY = date(2026, 11, 23)
CUSTOMERS = 1000
PAGE_SIZE = 10
DATA_VERSION = 3  # bump when the generated data changes, to invalidate cached SQLite files
DATA_DIR = Path(__file__).parent / ".data"
PAGE_TARGET_MS, COUNT_TARGET_MS, RATIO_TARGET = 2.0, 10.0, 1.5
SENDING = SendingState(configured=True, verified=True)

# Shared by both backends (plain integer SQL over the series value `i`): ~2% due & unsent,
# ~2% unsent but due later, the rest paid / sent / void, due dates spread over ~3 years.
# Every sent invoice has an accepted email; one due invoice in ten has a bounced one (the
# listing reads each page's latest emails, so they must exist to be measured).
OFFSET_DAYS = (
    "CASE WHEN i % 100 < 2 THEN -((i * 13) % 120) WHEN i % 100 < 4 THEN 1 + i % 60 "
    "WHEN i % 100 BETWEEN 80 AND 94 THEN 20 - i % 1000 ELSE -(i % 1000) END"
)
STATUS = (
    "CASE WHEN i % 100 < 4 THEN (CASE WHEN (i / 100) % 5 = 0 THEN 'draft' ELSE 'validated' END) "
    "WHEN i % 100 < 80 THEN 'paid' WHEN i % 100 < 95 THEN 'sent' ELSE 'void' END"
)
NET_CENTS = "(5 * ((i * 37) % 20000) + 500)"
CUSTOMER_OF = f"(1 + (CAST(i AS bigint) * 7919) % {CUSTOMERS})"
INVOICE_COLUMNS = (
    "organisation_id, number, customer_id, issue_date, due_date, currency, status, subtotal, tax_total,"
    " total, recipient_emails, public_token, autosend, created_at, updated_at"
)
CUSTOMER_COLUMNS = "organisation_id, ref, name, street, language, emails, cc, created_at, updated_at"
SUPPRESSION_COLUMNS = "organisation_id, email, reason, soft_bounce_count, active, created_at"
DELIVERY_COLUMNS = (
    "organisation_id, invoice_id, kind, status, to_addresses, cc, bcc, subject, body_text, language, attachments,"
    " message_id, verp_token, requested_by, override_suppression, attempts, recipient_results, created_at, updated_at"
)
DELIVERY_ROWS = (
    "1, id, 'invoice', CASE WHEN status = 'sent' THEN 'accepted' ELSE 'bounced' END, {to}, {empty}, {empty},"
    " 'Invoice', '', 'en', 'pdf', 'bench-' || id || '@bench.example', 'bench-' || id, 'U0BENCH', {no}, 1,"
    " CASE WHEN status = 'sent' THEN {empty_object} ELSE {bounced} END, {ts}, {ts}"
    " FROM invoices WHERE status = 'sent' OR (status = 'validated' AND id % 500 = 1)"
)
EMAILS = (
    "CASE WHEN c % 100 = 0 THEN '[]' WHEN c % 10 = 3 THEN '[\"ap@customer' || {p} || '.example\", "
    "\"boss@customer' || {p} || '.example\"]' ELSE '[\"ap@customer' || {p} || '.example\"]' END"
)
SQLITE_EMAILS = EMAILS.format(p="printf('%04d', c)")
PG_EMAILS = EMAILS.format(p="lpad(c::text, 4, '0')")
LANGUAGE = (
    "CASE c % 6 WHEN 0 THEN 'en' WHEN 1 THEN 'fr' WHEN 2 THEN 'de' WHEN 3 THEN 'nl' WHEN 4 THEN 'es' ELSE 'it' END"
)


def _sqlite_money(cents: str) -> str:
    return f"printf('%d.%02d', ({cents}) / 100, ({cents}) % 100)"


SQLITE_LOAD = [
    "INSERT INTO organisations (name, street, tax_id, country, default_language, sender_email, smtp_status,"
    " created_at) VALUES (:name, '', '', 'GB', 'en', 'invoices@bench.example', 'verified', '2026-01-01 00:00:00')",
    f"WITH RECURSIVE s(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM s WHERE c < {CUSTOMERS})"
    f" INSERT INTO customers ({CUSTOMER_COLUMNS}) SELECT 1, printf('C%04d', c), printf('Customer %04d Ltd', c), '',"
    f" {LANGUAGE}, {SQLITE_EMAILS}, '[]', '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM s",
    f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :rows)"
    f" INSERT INTO invoices ({INVOICE_COLUMNS}) SELECT 1, printf('INV-%07d', i), {CUSTOMER_OF},"
    f" date(:today, (({OFFSET_DAYS}) - 30) || ' days'), date(:today, ({OFFSET_DAYS}) || ' days'),"
    f" CASE WHEN i % 7 = 0 THEN 'GBP' ELSE 'EUR' END, {STATUS}, {_sqlite_money(NET_CENTS)},"
    f" {_sqlite_money(NET_CENTS + ' / 5')}, {_sqlite_money(NET_CENTS + ' * 6 / 5')},"
    f" CASE WHEN i % 500 = 1 THEN printf('[\"billing@customer%04d.example\"]', {CUSTOMER_OF}) END,"
    f" 'bench-' || i, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM s",
    f"INSERT INTO suppressions ({SUPPRESSION_COLUMNS}) SELECT 1, printf('ap@customer%04d.example', id),"
    " CASE WHEN id % 100 = 5 THEN 'complaint' ELSE 'hard_bounce' END, 0, id % 150 != 5, '2026-01-01 00:00:00'"
    " FROM customers WHERE id % 50 = 5",
    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) SELECT "
    + DELIVERY_ROWS.format(
        to="'[\"ap@bench.example\"]'",
        empty="'[]'",
        no="0",
        empty_object="'{}'",
        bounced='\'{"ap@bench.example": {"status": "bounced", "reply": "550 5.1.1"}}\'',
        ts="'2026-01-01 00:00:00'",
    ),
]
PG_TS = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
PG_LOAD = [
    SQLITE_LOAD[0].replace("'2026-01-01 00:00:00'", PG_TS),
    f"INSERT INTO customers ({CUSTOMER_COLUMNS}) SELECT 1, 'C' || lpad(c::text, 4, '0'),"
    f" 'Customer ' || lpad(c::text, 4, '0') || ' Ltd', '', {LANGUAGE},"
    f" ({PG_EMAILS})::json, '[]'::json, {PG_TS}, {PG_TS}"
    f" FROM generate_series(1, {CUSTOMERS}) AS c",
    f"INSERT INTO invoices ({INVOICE_COLUMNS}) SELECT 1, 'INV-' || lpad(i::text, 7, '0'), {CUSTOMER_OF},"
    f" CAST(:today AS date) + ({OFFSET_DAYS}) - 30, CAST(:today AS date) + ({OFFSET_DAYS}),"
    f" CASE WHEN i % 7 = 0 THEN 'GBP' ELSE 'EUR' END, {STATUS}, {NET_CENTS} / 100.0, {NET_CENTS} / 5 / 100.0,"
    f" {NET_CENTS} * 6 / 5 / 100.0, CASE WHEN i % 500 = 1 THEN json_build_array('billing@customer'"
    f" || lpad({CUSTOMER_OF}::text, 4, '0') || '.example') END, 'bench-' || i, false, {PG_TS}, {PG_TS}"
    " FROM generate_series(1, CAST(:rows AS integer)) AS i",
    f"INSERT INTO suppressions ({SUPPRESSION_COLUMNS}) SELECT 1, 'ap@customer' || lpad(id::text, 4, '0') ||"
    " '.example', CASE WHEN id % 100 = 5 THEN 'complaint' ELSE 'hard_bounce' END, 0, id % 150 != 5, " + PG_TS + ""
    " FROM customers WHERE id % 50 = 5",
    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) SELECT "
    + DELIVERY_ROWS.format(
        to="'[\"ap@bench.example\"]'::json",
        empty="'[]'::json",
        no="false",
        empty_object="'{}'::json",
        bounced='\'{"ap@bench.example": {"status": "bounced", "reply": "550 5.1.1"}}\'::json',
        ts=PG_TS,
    ),
]

# The hand-written baseline: the page joined to customers, then the suppression lookup, then
# the latest email of each validated invoice of the page (what the listing reads too).
HAND_PAGE = (
    "SELECT i.id, i.number, i.customer_id, c.name, c.language, i.issue_date, i.due_date, i.currency, i.total,"
    " i.status, i.recipient_emails, c.emails FROM invoices AS i JOIN customers AS c ON c.id = i.customer_id"
    " WHERE i.organisation_id = {0} AND i.due_date <= {1} AND i.status IN ('draft', 'validated')"
    " ORDER BY i.due_date, i.id LIMIT 10 OFFSET 0"
)
HAND_COUNT = (
    "SELECT count(*) FROM invoices WHERE organisation_id = {0} AND due_date <= {1} AND status IN ('draft', 'validated')"
)
HAND_SUPPRESSED = "SELECT email, reason FROM suppressions WHERE organisation_id = {0} AND active AND email IN ({1})"
HAND_LATEST = (
    "SELECT id, invoice_id, status, to_addresses, recipient_results, last_error, requested_by, created_at, updated_at"
    " FROM deliveries WHERE id IN (SELECT max(id) FROM deliveries WHERE invoice_id IN ({0}) AND kind = 'invoice'"
    " AND status NOT IN ('cancelled', 'rejected') GROUP BY invoice_id)"
)


def _marks(dialect: str, count: int, start: int = 1) -> list[str]:
    return ["?"] * count if dialect == "sqlite" else [f"${n}" for n in range(start, start + count)]


def _as_list(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or [])


async def hand_page(conn: AsyncConnection, org_id: int) -> Sequence[tuple[Any, ...]]:
    dialect = conn.dialect.name
    day: Any = TODAY.isoformat() if dialect == "sqlite" else TODAY
    # plain SQL: SQLAlchemy types its rows as one column, they are tuples of the page's columns
    rows: Sequence[tuple[Any, ...]] = (
        await conn.exec_driver_sql(HAND_PAGE.format(*_marks(dialect, 2)), (org_id, day))
    ).all()
    addresses = sorted({a.strip().lower() for r in rows for a in _as_list(r[10] if r[10] is not None else r[11])})
    if addresses:
        sql = HAND_SUPPRESSED.format(_marks(dialect, 1)[0], ", ".join(_marks(dialect, len(addresses), 2)))
        await conn.exec_driver_sql(sql, (org_id, *addresses))
    validated = [r[0] for r in rows if r[9] != "draft"]
    if validated:
        await conn.exec_driver_sql(HAND_LATEST.format(", ".join(_marks(dialect, len(validated)))), tuple(validated))
    return rows


async def hand_count(conn: AsyncConnection, org_id: int) -> int:
    dialect = conn.dialect.name
    day: Any = TODAY.isoformat() if dialect == "sqlite" else TODAY
    count: int = (await conn.exec_driver_sql(HAND_COUNT.format(*_marks(dialect, 2)), (org_id, day))).scalar_one()
    return count


async def load(engine: AsyncEngine, rows: int) -> None:
    """Fill a migrated database with set-based SQL.

    PostgreSQL is vacuumed (a live database is, by autovacuum) so counts are index-only
    scans; SQLite gets no ANALYZE, as a bot's own SQLite file never has one either.
    """
    statements = SQLITE_LOAD if engine.dialect.name == "sqlite" else PG_LOAD
    day: Any = TODAY.isoformat() if engine.dialect.name == "sqlite" else TODAY
    params = {"name": f"Benchmark Ltd ({rows} invoices, v{DATA_VERSION})", "rows": rows, "today": day}
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")


async def prepare(backend: str, rows: int, postgres_url: str, rebuild: bool) -> tuple[AsyncEngine, str]:
    """An engine on a database holding the benchmark data, built or reused; and where it came from."""
    if backend == "sqlite":
        DATA_DIR.mkdir(exist_ok=True)
        path = DATA_DIR / f"due_listing-{rows}-v{DATA_VERSION}.db"
        if path.exists() and not rebuild:
            await asyncio.to_thread(upgrade, f"sqlite:///{path}")
            return create_engine(f"sqlite:///{path}"), f"cached in {path}"
        partial = path.with_suffix(".partial")
        for stale in DATA_DIR.glob(f"{partial.name}*"):
            stale.unlink()
        await asyncio.to_thread(upgrade, f"sqlite:///{partial}")
        engine = create_engine(f"sqlite:///{partial}")
        started = time.perf_counter()
        await load(engine, rows)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()
        partial.rename(path)
        return create_engine(f"sqlite:///{path}"), f"built in {time.perf_counter() - started:.1f} s, cached in {path}"
    engine = create_engine(postgres_url)
    marker = f"Benchmark Ltd ({rows} invoices, v{DATA_VERSION})"
    async with engine.connect() as conn:
        has_table = (await conn.exec_driver_sql("SELECT to_regclass('organisations') IS NOT NULL")).scalar_one()
        names = (await conn.exec_driver_sql("SELECT name FROM organisations")).scalars().all() if has_table else []
    if names == [marker] and not rebuild:
        await asyncio.to_thread(upgrade, postgres_url)
        return engine, "reused"
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        await conn.exec_driver_sql("CREATE SCHEMA public")
    await asyncio.to_thread(upgrade, postgres_url)
    started = time.perf_counter()
    await load(engine, rows)
    return engine, f"built in {time.perf_counter() - started:.1f} s"


async def explain(conn: AsyncConnection, statement: str, parameters: Any) -> dict[str, list[str]]:
    """The plan of `statement` as sent; on PostgreSQL also its generic plan, which a prepared
    statement (asyncpg prepares everything) switches to after five executions."""
    if conn.dialect.name == "sqlite":
        plan: Iterable[tuple[Any, ...]] = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return {"plan": [row[3] for row in plan]}
    plans = {"custom plan": [row[0] for row in await conn.exec_driver_sql("EXPLAIN " + statement, parameters)]}
    values = ", ".join(f"'{value}'" if isinstance(value, date) else str(int(value)) for value in parameters)
    await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    await conn.exec_driver_sql(f"PREPARE bench_explained AS {statement}")
    try:
        generic = await conn.exec_driver_sql(f"EXPLAIN EXECUTE bench_explained({values})")
        plans["generic plan"] = [row[0] for row in generic]
    finally:
        await conn.exec_driver_sql("DEALLOCATE bench_explained")
        await conn.exec_driver_sql("RESET plan_cache_mode")
    return plans


def _ms(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1e6, ordered[int(len(ordered) * 0.9) - 1] / 1e6


async def _time_cases(
    cases: dict[str, Callable[[], Awaitable[Any]]], *, warmup: int, iterations: int
) -> dict[str, list[int]]:
    """Nanoseconds of each case per iteration after the warm-up. Shuffled every iteration:
    whatever runs right after the heavy count pays for it (caches, scheduler), so a fixed order
    would bias the ratios."""
    samples: dict[str, list[int]] = {name: [] for name in cases}
    shuffler = random.Random(2026)
    order = list(cases)
    for iteration in range(warmup + iterations):
        shuffler.shuffle(order)
        for name in order:
            started = time.perf_counter_ns()
            await cases[name]()
            elapsed = time.perf_counter_ns() - started
            if iteration >= warmup:
                samples[name].append(elapsed)
    return samples


async def run_backend(backend: str, args: argparse.Namespace) -> bool:
    engine, origin = await prepare(backend, args.rows, args.postgres_url, args.rebuild)
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    ok = True
    async with AsyncSession(engine) as session:
        conn = await session.connection()
        org_id = (await conn.exec_driver_sql("SELECT min(id) FROM organisations")).scalar_one()
        version = (
            await conn.exec_driver_sql("SELECT sqlite_version()" if backend == "sqlite" else "SHOW server_version")
        ).scalar_one()

        async def orm_page() -> Any:
            return await list_due_invoices(
                session, DueQuery(organisation_id=org_id, today=TODAY, sending=SENDING), with_count=False
            )

        async def orm_count() -> int:
            return await count_due_invoices(session, organisation_id=org_id, today=TODAY)

        sent.clear()
        page = await orm_page()
        page_sql = list(sent)
        sent.clear()
        total = await orm_count()
        count_sql = list(sent)
        hand_rows = await hand_page(conn, org_id)
        assert [item.id for item in page.items] == [row[0] for row in hand_rows], "ORM and SQL pages differ"
        assert total == await hand_count(conn, org_id), "ORM and SQL counts differ"

        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "page ORM": orm_page,
            "page SQL": lambda: hand_page(conn, org_id),
            "count ORM": orm_count,
            "count SQL": lambda: hand_count(conn, org_id),
        }
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        samples = await _time_cases(cases, warmup=args.warmup, iterations=args.iterations)

        invoices = (await conn.exec_driver_sql("SELECT count(*) FROM invoices")).scalar_one()
        ready = sum(item.ready for item in page.items)
        bounced = sum(bool(item.state and item.state.state == "not_received") for item in page.items)
        print(
            f"\n== {backend} {version} — {invoices:,} invoices, {total:,} due & unsent ({100 * total / invoices:.1f}%),"
            f" data {origin}; first page {ready}/{len(page.items)} ready, {bounced} not received"
        )
        print(f"   {'':<46}{'median':>10}{'p90':>10}   target")
        for kind, target in (("page", PAGE_TARGET_MS), ("count", COUNT_TARGET_MS)):
            orm_median, orm_p90 = _ms(samples[f"{kind} ORM"])
            sql_median, sql_p90 = _ms(samples[f"{kind} SQL"])
            ratio = orm_median / sql_median
            label = "list_due_invoices(with_count=False)" if kind == "page" else "count_due_invoices"
            fine = orm_median <= target and ratio <= RATIO_TARGET
            ok = ok and fine
            print(f"   {kind + ' ORM ' + label:<46}{orm_median:>8.3f}ms{orm_p90:>8.3f}ms   ≤ {target:g} ms")
            print(f"   {kind + ' hand-written SQL':<46}{sql_median:>8.3f}ms{sql_p90:>8.3f}ms")
            verdict = "ok" if fine else "MISSED"
            print(f"   {kind + ' ratio ORM / SQL':<46}{ratio:>10.2f}{'':>10}   ≤ {RATIO_TARGET}  {verdict}")
        for title, captured in (("page", page_sql[0]), ("count", count_sql[0])):
            print(f"   EXPLAIN of the ORM's own {title} SQL: " + " ".join(captured[0].split()))
            for kind, plan in (await explain(conn, *captured)).items():
                used = any("ix_invoices_due_unsent" in line for line in plan)
                ok = ok and used
                print(f"      {kind} — partial index {'used' if used else 'NOT USED'}:")
                for line in plan:
                    print(f"      | {line}")
    await engine.dispose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/bench_due")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data even if a cached copy exists")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(
        f"due listing benchmark: {args.rows:,} invoices, today {TODAY}, page of {PAGE_SIZE},"
        f" {args.iterations} iterations after {args.warmup} warm-up, medians in the same run"
    )
    results = [asyncio.run(run_backend(backend, args)) for backend in backends]
    print("\nall targets met" if all(results) else "\nSOME TARGETS MISSED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
