"""`invoicebot worker`: the send worker as its own process (also run in-process by `run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from bot.container import Container
from bot.loop_health import Heartbeat
from bot.worker import Worker
from services.sending.render_pool import RenderPool

log = logging.getLogger(__name__)

# imported by each render process as it starts, so the first invoice does not pay for it
RENDER_PRELOAD = ("services.sending.pipeline",)


def build_worker(container: Container, render_pool: RenderPool | None, heartbeat: Heartbeat | None = None) -> Worker:
    settings = container.settings
    return Worker(
        sessions=container.sessions,
        transport=container.build_transport(),
        identity=container.sender_identity(),
        render_pool=render_pool,
        retry=container.retry_policy(),
        concurrency=settings.worker_concurrency,
        stale_after=timedelta(seconds=settings.stale_after_seconds),
        heartbeat=heartbeat,
    )


def make_render_pool(processes: int) -> RenderPool:
    """The PDF/UBL render processes, not started yet (`await pool.start()`, or the first delivery starts them)."""
    return RenderPool(processes, preload=RENDER_PRELOAD)


async def run_worker(
    container: Container, *, stop: asyncio.Event, until_idle: bool = False, heartbeat: Heartbeat | None = None
) -> int:
    """Run the worker until `stop` is set (or, with `until_idle`, until nothing is due)."""
    processes = container.settings.render_processes
    render_pool = make_render_pool(processes) if processes else None
    worker = build_worker(container, render_pool, heartbeat)
    try:
        if render_pool is not None:
            await render_pool.start()  # a broken installation fails here, not at the first invoice
        if until_idle:
            await worker.recover()
            return await worker.drain(stop=stop, until_idle=True)
        await worker.run(stop)
        return worker.sent
    finally:
        await worker.transport.aclose()
        if render_pool is not None:
            await render_pool.aclose()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
