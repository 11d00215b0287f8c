"""The emails as sent: bytes stored vs bytes the SMTP server received, and what keeping them costs.

Run:  .venv/bin/python -m benchmarks.sent_messages [--sends 10000] [--invoices 300] [--rounds 3]
      [--postgres-url postgresql://postgres@127.0.0.1:5432/bench_sent]

  storage     the real worker (render pool of 2, which packs each message) sends `--sends`
              invoices made as benchmarks/bulk_send.py makes them (10–30 lines, PDF + UBL) to an
              aiosmtpd server in its own process that adds up the DATA bytes it received; then
              the bytes stored (message skeletons + blobs) against those. Goal ≤ 25 %.
  throughput  the bulk send end to end (claim → render → SMTP → record), keeping the emails as sent
              and not (a renderer that does not pack: the worker then keeps nothing), interleaved
              over `--rounds` rounds of `--invoices` fresh invoices each; medians, their ratio,
              and each against the bulk-send harmonic bound measured in the same run
              (render alone, send alone: benchmarks/bulk_send.py). Goal: keeping ≥ 0.80 of the bound.
Everything is on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.bulk_send import CONCURRENCY, POOL, RENDER_PROCESSES, measure_render, measure_send
from benchmarks.bulk_send_data import IDENTITY, build_data, prepare_jobs
from benchmarks.processes import free_port
from bot.ubl_validator import UblValidator
from bot.worker import Worker, WorkerParts, WorkerTuning
from services.db.engine import create_engine, session_factory
from services.db.models import Delivery, DeliveryStatus, SentBlob, SentMessage, SentMessageBlob
from services.email.smtp import SmtpRelay, SmtpTransport
from services.sending.pipeline import RenderJob, pool_renderer, render_message
from services.sending.render_pool import RenderPool


def _counting_server(port: int, total: Synchronized[int], count: Synchronized[int]) -> None:
    """An aiosmtpd server adding up the DATA bytes it receives (runs in its own process)."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = envelope.original_content or b""
            with total.get_lock():
                total.value += len(data)
            with count.get_lock():
                count.value += 1
            return "250 2.0.0 Ok: queued"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    try:
        time.sleep(3600)
    finally:
        controller.stop()


async def validate_all(url: str) -> None:
    """The UBL validation loop first, as in production (the worker then looks each verdict up)."""
    engine = create_engine(url)
    validator = UblValidator(sessions=session_factory(engine), public_url=IDENTITY.public_url)
    for _ in range(10_000):  # bounded
        done = await validator.run_once()
        if not done.checked and not done.next_delivery_id:
            break
    await engine.dispose()


async def send_all(url: str, port: int, total: int, *, keep: bool) -> float:
    """The real worker drains the queue; invoices per second."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=port, security="none"), timeout=30, pool_size=POOL)
    render_pool = RenderPool(RENDER_PROCESSES, preload=["services.sending.pipeline"])
    await render_pool.start()
    bare: Callable[[RenderJob], Awaitable[bytes]] = lambda job: render_pool.run(render_message, job)  # noqa: E731
    worker = Worker(
        WorkerParts(
            sessions=sessions,
            transport=transport,
            identity=IDENTITY,
            render_pool=render_pool,
            render=pool_renderer(render_pool) if keep else bare,
        ),
        WorkerTuning(concurrency=CONCURRENCY, worker_id="bench"),
    )
    started = time.perf_counter()
    await worker.drain(until_idle=True)
    elapsed = time.perf_counter() - started
    async with sessions() as session:
        accepted = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.ACCEPTED)
        )
        kept = await session.scalar(select(func.count()).select_from(SentMessage))
    assert accepted == total, f"only {accepted} of {total} accepted"
    assert kept == (total if keep else 0), f"{kept} emails kept of {total}"
    await transport.aclose()
    await render_pool.aclose()
    await engine.dispose()
    return total / elapsed


async def stored_bytes(url: str) -> tuple[int, int, int, int, int]:
    """(bytes the worker handed over, skeleton bytes, blob bytes, blobs, links)."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        handed = int(await session.scalar(select(func.sum(SentMessage.size))) or 0)
        skeletons = int(await session.scalar(select(func.sum(func.length(SentMessage.skeleton)))) or 0)
        blobs = int(await session.scalar(select(func.sum(func.length(SentBlob.content)))) or 0)
        blob_count = int(await session.scalar(select(func.count()).select_from(SentBlob)) or 0)
        links = int(await session.scalar(select(func.count()).select_from(SentMessageBlob)) or 0)
    await engine.dispose()
    return handed, skeletons, blobs, blob_count, links


def fresh_url(args: argparse.Namespace, workdir: Path, name: str) -> str:
    return args.postgres_url or f"sqlite:///{workdir / name}.db"


def storage(args: argparse.Namespace, workdir: Path) -> bool:
    url = fresh_url(args, workdir, "storage")
    port = free_port()
    total, count = multiprocessing.Value("q", 0), multiprocessing.Value("q", 0)
    server = multiprocessing.Process(target=_counting_server, args=(port, total, count), daemon=True)
    server.start()
    try:
        time.sleep(1.0)
        asyncio.run(build_data(url, args.sends))
        asyncio.run(validate_all(url))
        rate = asyncio.run(send_all(url, port, args.sends, keep=True))
    finally:
        server.terminate()
        server.join(10)
    handed, skeletons, blobs, blob_count, links = asyncio.run(stored_bytes(url))
    received = int(total.value)
    stored = skeletons + blobs
    print(f"storage: {args.sends} sends at {rate:.1f}/s; the SMTP server received {count.value} messages")
    print(
        f"  bytes the SMTP server received (DATA):  {received:>14,}  ({received / max(1, count.value):,.0f} a message)"
    )
    print(f"  bytes the worker handed over (stored size column): {handed:,} (equal: {handed == received})")
    print(f"  bytes stored: {stored:,} = skeletons {skeletons:,} + {blob_count} blobs {blobs:,}; {links:,} links")
    print(f"  stored / received: {stored / max(1, received):.1%}  (goal ≤ 25 %)")
    print(
        f"  per message: skeleton {skeletons / max(1, args.sends):,.0f} B, its share of blobs "
        f"{blobs / max(1, args.sends):,.0f} B"
    )
    return stored <= 0.25 * received


def throughput(args: argparse.Namespace, workdir: Path) -> bool:
    from benchmarks.processes import start_smtp_server

    port = free_port()
    server = start_smtp_server(port)
    try:
        url = fresh_url(args, workdir, "bound")
        asyncio.run(build_data(url, args.invoices))
        jobs = asyncio.run(prepare_jobs(url, args.invoices))
        render_rate = measure_render(jobs)
        send_rate = asyncio.run(measure_send(port, [render_message(job) for job in jobs]))
        bound = 1 / (1 / render_rate + 1 / send_rate)
        rates: dict[bool, list[float]] = {True: [], False: []}
        for n in range(args.rounds):
            for keep in (False, True) if n % 2 == 0 else (True, False):
                url = fresh_url(args, workdir, f"round{n}-{keep}")
                asyncio.run(build_data(url, args.invoices))
                asyncio.run(validate_all(url))
                rates[keep].append(asyncio.run(send_all(url, port, args.invoices, keep=keep)))
    finally:
        server.terminate()
        server.wait(timeout=10)
    keeping, plain = statistics.median(rates[True]), statistics.median(rates[False])
    print(
        f"throughput: {args.rounds} interleaved rounds of {args.invoices} invoices; render alone "
        f"{render_rate:.1f}/s, send alone {send_rate:.1f}/s, harmonic bound {bound:.1f}/s"
    )
    print(f"  without keeping the emails: median {plain:.1f} invoices/s ({plain / bound:.2f} of the bound) "
          f"rounds {', '.join(f'{r:.1f}' for r in rates[False])}")  # fmt: skip
    print(f"  keeping the emails as sent: median {keeping:.1f} invoices/s ({keeping / bound:.2f} of the bound) "
          f"rounds {', '.join(f'{r:.1f}' for r in rates[True])}")  # fmt: skip
    print(f"  keeping / without: {keeping / plain:.2f}   (goal: keeping ≥ 0.80 of the bound)")
    return keeping / bound >= 0.80


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--skip-storage", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sent-"))
    missed = []
    if not args.skip_storage and not storage(args, workdir):
        missed.append("stored bytes above 25 % of the bytes received")
    if not args.skip_throughput and not throughput(args, workdir):
        missed.append("keeping the emails below 0.80 of the bulk-send bound")
    if missed:
        print(f"target missed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
