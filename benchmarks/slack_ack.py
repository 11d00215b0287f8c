"""Slack hears back in time: the ack of a full *Send all ready* submission, at the HTTP client (issue 10).

Slack shows a failure when an interaction is not answered within 3 seconds. This measures,
at the client, how long the real web app takes to answer the signed `view_submission` of
a bulk confirmation while 500 or more invoices are ready (each confirmation carries
`MAX_BULK_INVOICES` of them, as the modal does), beside a baseline measured in the same
run: a trivial signed slash command to a Bolt app that acks a constant. After each ack it
also waits (bounded) until the bulk's deliveries exist, and prints how long the whole
bulk took, which is what Slack no longer waits for.

The server (benchmarks.slack_due's: the real web app, the fake Slack Web API and the
baseline app under uvicorn) runs in its own process; each run submits a new confirmation
(its own view id, its own invoices), so every run does the full work. SQLite gets a fresh
file; `--postgres-url` names a database of its own, whose schema is dropped and rebuilt.

    .venv/bin/python -m benchmarks.slack_ack [--runs 5] [--postgres-url postgresql://…/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from benchmarks.slack_due import SIGNING_SECRET, USER, percentile, server_running
from bot.sandbox.slack_requests import sign, slash_command_body, view_submission_body
from handlers.blocks.bulk import encode_numbers
from handlers.ids import CallbackId
from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import Delivery, InvoiceStatus, Organisation, SmtpStatus
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.sending.bulk import MAX_BULK_INVOICES

TODAY = date(2026, 11, 23)  # benchmarks.slack_due's server runs on this day
READY = 500
BASELINE_PER_RUN = 20


async def build(url: str, invoices: int) -> None:
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        org = Organisation(
            name="Benchmark Ltd", street="1 Bench Street", city="London", postal_code="EC1A 1BB",
            country="GB", default_language="en", sender_email="invoices@example.com", smtp_status=SmtpStatus.VERIFIED,
        )  # fmt: skip
        session.add(org)
        await session.flush()
        acme = await upsert_customer(
            session, organisation_id=org.id, data=CustomerData(ref="ACME", name="Acme", emails=("ap@acme.example",))
        )
        for n in range(invoices):
            await create_invoice(
                session,
                organisation_id=org.id,
                customer=acme,
                data=InvoiceData(
                    number=f"B-{n:05d}",
                    issue_date=date(2026, 10, 1),
                    due_date=TODAY - timedelta(days=1 + n % 300),
                    currency="EUR",
                    status=InvoiceStatus.VALIDATED,
                    lines=[LineData("Consulting", Decimal(1), Decimal("100.00"), Decimal(20))],
                ),
            )
        await session.commit()
    await engine.dispose()


async def post(http: httpx.AsyncClient, url: str, body: str) -> tuple[float, httpx.Response]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(signing_secret=SIGNING_SECRET, body=body)}
    started = time.perf_counter()
    response = await http.post(url, content=body, headers=headers)
    return (time.perf_counter() - started) * 1000, response


async def deliveries(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count(Delivery.id)))).scalar_one())
    finally:
        await engine.dispose()


async def measure(base: str, url: str, runs: int) -> tuple[list[float], list[float], list[float], str]:
    ack_ms: list[float] = []
    baseline_ms: list[float] = []
    done_s: list[float] = []
    shown = ""
    command = slash_command_body(text="help", user=USER, response_url="http://127.0.0.1:9/unused")
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(BASELINE_PER_RUN):  # warm-up: connections, Bolt's auth.test
            await post(http, f"{base}/baseline/events", command)
            await post(http, f"{base}/slack/events", command)
        for run in range(runs):
            numbers = [f"B-{n:05d}" for n in range(run * MAX_BULK_INVOICES, (run + 1) * MAX_BULK_INVOICES)]
            view = {"id": f"VBENCH{run}", "callback_id": CallbackId.BULK, "private_metadata": encode_numbers(numbers)}
            body = view_submission_body(view=view, values={}, user=USER)
            started = time.perf_counter()
            elapsed, response = await post(http, f"{base}/slack/events", body)
            answer = response.json() if response.status_code == 200 and response.content else {}
            if answer.get("response_action") != "update":
                raise SystemExit(f"run {run}: answered {response.status_code} {response.text[:200]}")
            shown = answer["view"]["blocks"][0]["text"]["text"]
            ack_ms.append(elapsed)
            for _ in range(BASELINE_PER_RUN):
                baseline_ms.append((await post(http, f"{base}/baseline/events", command))[0])
            deadline = time.monotonic() + 300
            while await deliveries(url) < (run + 1) * MAX_BULK_INVOICES:
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {run}: the bulk did not finish within 300 s")
                await asyncio.sleep(0.1)
            done_s.append(time.perf_counter() - started)
    return ack_ms, baseline_ms, done_s, shown


def run_backend(backend: str, url: str, runs: int) -> None:
    invoices = max(READY, runs * MAX_BULK_INVOICES)
    asyncio.run(build(url, invoices))
    with server_running(["benchmarks.slack_due", "--serve", url, "--org-name", "Benchmark Ltd"]) as base:
        ack_ms, baseline_ms, done_s, shown = asyncio.run(measure(base, url, runs))
    a50, a95 = statistics.median(ack_ms), percentile(ack_ms, 0.95)
    b50, b95 = statistics.median(baseline_ms), percentile(baseline_ms, 0.95)
    print(f"\n{backend}: {invoices} ready invoices; {runs} bulk submissions of {MAX_BULK_INVOICES} (the limit)")
    print(f"  answer: {shown!r}")
    print(f"  bulk submission ack  median {a50:7.2f} ms   p95 {a95:7.2f} ms   max {max(ack_ms):7.2f} ms")
    print(f"  trivial command ack  median {b50:7.2f} ms   p95 {b95:7.2f} ms   ({len(baseline_ms)} samples)")
    print(f"  ratio of medians {a50 / b50:.2f}×;  Slack's limit 3000 ms")
    print(f"  whole bulk (after the ack) median {statistics.median(done_s):.2f} s   max {max(done_s):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-url", help="a database of its own: its schema is dropped and rebuilt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        run_backend("sqlite", f"sqlite:///{Path(workdir) / 'slack_ack.db'}", args.runs)
    if args.postgres_url:
        run_backend("postgres", args.postgres_url, args.runs)


if __name__ == "__main__":
    main()
