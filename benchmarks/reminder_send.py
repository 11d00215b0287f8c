"""Reminder send: reminder emails per second end to end, against the harmonic bound of its two halves.

Run:  .venv/bin/python -m benchmarks.reminder_send [--reminders 500] [--rounds 3]
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
The machine's two cores are shared, so a round's rates move with its neighbours' load: each
of `--rounds` rounds builds fresh data and measures all three back to back, its e2e against its
own bound; the medians over the rounds are printed, and the goal is on the median ratio.
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
from statistics import median
from typing import NamedTuple

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


class Round(NamedTuple):
    render: float
    send: float
    e2e: float
    size: float
    cpu: str

    @property
    def bound(self) -> float:
        return 1 / (1 / self.render + 1 / self.send)

    @property
    def ratio(self) -> float:
        return self.e2e / self.bound


def one_round(url: str, reminders: int, port: int, server_pid: int) -> Round:
    """Fresh data, then render alone, send alone and the worker end to end, back to back."""
    asyncio.run(build_reminder_data(url, reminders))
    jobs = asyncio.run(prepare_reminder_jobs(url))
    render_rate = measure_render(jobs)
    messages = [render_message(job) for job in jobs]
    send_rate = asyncio.run(measure_send(port, messages))
    e2e_rate, _, _, cpu = asyncio.run(measure_e2e(url, port, len(jobs), None, server_pid))
    return Round(render_rate, send_rate, e2e_rate, sum(map(len, messages)) / len(messages), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    if args.reminders < 10 or not 1 <= args.rounds <= 9:
        parser.error("--reminders must be at least 10, --rounds between 1 and 9")

    workdir = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    port = free_port()
    server = start_smtp_server(port)
    try:
        print(
            f"reminder send benchmark: {args.reminders} reminders, 2 invoices each (10–30 lines), 2 PDFs + HTML; "
            f"{RENDER_PROCESSES} render processes, {POOL} SMTP connections, concurrency {CONCURRENCY}; "
            f"database {'postgresql' if args.postgres_url else 'sqlite'}; {args.rounds} rounds; "
            f"SMTP server in its own process on 127.0.0.1:{port}"
        )
        rounds: list[Round] = []
        for n in range(args.rounds):
            # PostgreSQL's schema is rebuilt by build_data, SQLite gets a new file
            url = args.postgres_url or f"sqlite:///{workdir / f'bench{n}.db'}"
            done = one_round(url, args.reminders, port, server.pid)
            rounds.append(done)
            print(
                f"  round {n + 1}: render {done.render:.1f}/s, send {done.send:.1f}/s, bound {done.bound:.1f}/s, "
                f"end to end {done.e2e:.1f}/s, ratio {done.ratio:.2f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)

    render, send = median([r.render for r in rounds]), median([r.send for r in rounds])
    e2e, ratio = median([r.e2e for r in rounds]), median([r.ratio for r in rounds])
    size = median([r.size for r in rounds])
    print(f"  medians over {len(rounds)} rounds:")
    print(f"  render alone (2 PDFs + HTML, {RENDER_PROCESSES} processes): {render:8.1f} reminders/s")
    print(f"  send alone (prebuilt {size / 1024:.0f} KB messages, {POOL} connections): {send:8.1f} msg/s")
    print(f"  harmonic bound 1/(1/render + 1/send):            {median([r.bound for r in rounds]):8.1f} reminders/s")
    print(f"  end to end (the worker, claim → owed → render → mark → SMTP → record): {e2e:8.1f} reminders/s")
    print(f"  ratio end to end / bound (median of the rounds'): {ratio:.2f}  (goal ≥ {GOAL:.2f})")
    print(f"  last round: {rounds[-1].cpu.replace('per invoice', 'per reminder')}")
    if ratio < GOAL:
        print("target missed: end to end below 80 % of the bound")
        sys.exit(1)


if __name__ == "__main__":
    main()
