"""`invoicebot worker`: the send worker as its own process (also run in-process by `run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

from bot.container import Container
from bot.worker import Worker

log = logging.getLogger(__name__)


def build_worker(container: Container, executor: ProcessPoolExecutor | None) -> Worker:
    settings = container.settings
    return Worker(
        sessions=container.sessions,
        transport=container.build_transport(),
        identity=container.sender_identity(),
        executor=executor,
        retry=container.retry_policy(),
        concurrency=settings.worker_concurrency,
        stale_after=timedelta(seconds=settings.stale_after_seconds),
    )


async def run_worker(container: Container, *, stop: asyncio.Event, until_idle: bool = False) -> int:
    """Run the worker until `stop` is set (or, with `until_idle`, until nothing is due)."""
    processes = container.settings.render_processes
    executor = ProcessPoolExecutor(max_workers=processes) if processes else None
    worker = build_worker(container, executor)
    try:
        if until_idle:
            await worker.recover()
            return await worker.drain(stop=stop, until_idle=True)
        await worker.run(stop)
        return worker.sent
    finally:
        await worker.transport.aclose()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
