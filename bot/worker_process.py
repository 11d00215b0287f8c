"""`invoicebot worker`: the send worker as its own process (also run in-process by `run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.worker import Worker
from services.sending.render_pool import RenderPool

log = logging.getLogger(__name__)

# imported by each render process as it starts, so the first invoice does not pay for it
RENDER_PRELOAD = ("services.sending.pipeline",)


def make_render_pool(processes: int) -> RenderPool:
    """The PDF/UBL render processes, not started yet (`await pool.start()`, or the first delivery starts them)."""
    return RenderPool(processes, preload=RENDER_PRELOAD)


async def run_worker(
    worker: Worker, render_pool: RenderPool | None, *, stop: asyncio.Event, until_idle: bool = False
) -> int:
    """Run the worker until `stop` is set (or, with `until_idle`, until nothing is due).

    Its render pool is started first (a broken installation fails here, not at the first
    invoice); the pool and the transport are the runtime's, closed by `Runtime.aclose`.
    """
    if render_pool is not None:
        await render_pool.start()
    if until_idle:
        await worker.recover()
        return await worker.drain(stop=stop, until_idle=True)
    await worker.run(stop)
    return worker.sent


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
