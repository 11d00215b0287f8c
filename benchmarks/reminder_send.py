"""Reminder send: reminder emails per second end to end, against the harmonic bound of its two halves.

Run:  .venv/bin/python -m benchmarks.reminder_send [--reminders 500]
      [--postgres-url postgresql://postgres@127.0.0.1:5432/bench_reminders]

Issue 14 asks the reminder send path to reach the ratio invoice sending reaches (benchmarks/
bulk_send.py, whose pieces this reuses): N queued reminder deliveries (kind REMINDER), each
listing 2 sent invoices of its customer, so an email with 2 PDFs and the reminder's own HTML.
In one run it measures, on this machine:
  render_rate  the reminder render jobs the worker builds (`prepare_sends`, as in its claim)
               rendered alone, in 2 processes, by the function its render pool runs
               (`render_and_pack`: both PDFs, the HTML, the MIME message, its stored form);
  send_rate    aiosmtplib sending the same prebuilt messages alone over the worker's connections;
  e2e_rate     the real worker (claim → still-owed check and render jobs → render in a 2-process
               pool → data-start mark re-checking the invoices → SMTP → record) draining the queue.
The bound is 1 / (1/render_rate + 1/send_rate); the goal is e2e ≥ 80 % of it (exit 1 below).
The SMTP server (bot.sandbox.smtp_server --count-only) runs in its own process; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.bulk_send import CONCURRENCY, POOL, RENDER_PROCESSES, measure_e2e, measure_send
from benchmarks.processes import free_port, start_smtp_server
from benchmarks.reminder_send_data import build_reminder_data, prepare_reminder_jobs
from services.sending.pipeline import RenderJob, render_and_pack, render_message

GOAL = 0.80


def measure_render(jobs: list[RenderJob]) -> float:
    """Reminders per second rendered by the render pool's own function, in RENDER_PROCESSES processes."""
    with ProcessPoolExecutor(RENDER_PROCESSES) as pool:
        list(pool.map(render_and_pack, jobs[:4]))  # warm the children
        started = time.perf_counter()
        list(pool.map(render_and_pack, jobs, chunksize=4))
        return len(jobs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=500)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    if args.reminders < 10:
        parser.error("--reminders must be at least 10")

    workdir = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    url = args.postgres_url or f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    server = start_smtp_server(port)
    try:
        print(
            f"reminder send benchmark: {args.reminders} reminders, 2 invoices each (10–30 lines), 2 PDFs + HTML; "
            f"{RENDER_PROCESSES} render processes, {POOL} SMTP connections, concurrency {CONCURRENCY}; "
            f"database {url.split('://')[0]}; SMTP server in its own process on 127.0.0.1:{port}"
        )
        asyncio.run(build_reminder_data(url, args.reminders))
        jobs = asyncio.run(prepare_reminder_jobs(url))
        render_rate = measure_render(jobs)
        messages = [render_message(job) for job in jobs]
        size = sum(map(len, messages)) / len(messages)
        send_rate = asyncio.run(measure_send(port, messages))
        bound = 1 / (1 / render_rate + 1 / send_rate)
        e2e_rate, _, _, cpu = asyncio.run(measure_e2e(url, port, len(jobs), None, server.pid))
        ratio = e2e_rate / bound
        print(f"  render alone (2 PDFs + HTML, {RENDER_PROCESSES} processes): {render_rate:8.1f} reminders/s")
        print(f"  send alone (prebuilt {size / 1024:.0f} KB messages, {POOL} connections): {send_rate:8.1f} msg/s")
        print(f"  harmonic bound 1/(1/render + 1/send):            {bound:8.1f} reminders/s")
        print(f"  end to end (the worker, claim → owed → render → mark → SMTP → record): {e2e_rate:8.1f} reminders/s")
        print(f"  ratio end to end / bound: {ratio:.2f}  (goal ≥ {GOAL:.2f})")
        print(f"  {cpu.replace('per invoice', 'per reminder')}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    if ratio < GOAL:
        print("target missed: end to end below 80 % of the bound")
        sys.exit(1)


if __name__ == "__main__":
    main()
