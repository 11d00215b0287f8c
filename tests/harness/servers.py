"""Serving an ASGI app under uvicorn on 127.0.0.1 for one test, on a port the OS picks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from bot.runner import bound_port


async def start_server(server: uvicorn.Server) -> asyncio.Task[None]:
    """Run `server` in a task and return once it listens (10 s at most: a stuck start fails the test)."""
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        await asyncio.sleep(0.01)
    return task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)


@asynccontextmanager
async def running(server: uvicorn.Server) -> AsyncIterator[str]:
    """Serve with `server` (built with port 0); yields its base URL and stops it afterwards."""
    task = await start_server(server)
    try:
        yield f"http://127.0.0.1:{bound_port(server)}"
    finally:
        await stop_server(server, task)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve a bare `app` (no lifespan) on a free 127.0.0.1 port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    async with running(server) as url:
        yield url
