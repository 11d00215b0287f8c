"""Background work in tests, always stopped: loops in tasks, child processes, `invoicebot worker`.

A worker left running after its test keeps its database connections: on PostgreSQL the next
test's `TRUNCATE` then waits for them for good. So every helper here that starts something
also stops it when the test gives up (a timeout, a failed assertion, a cancel): `looping`
for a loop run in this event loop, `stopped` for a process a test started itself (call it
in `finally`), `run_until_idle` kills its process if it does not end in time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.sandbox.smtp_server import ScriptedSmtpServer
from tests.harness.cli import INVOICEBOT

STOP_SECONDS = 10.0  # a stopped loop ends, a killed process is reaped, well within this on a busy machine


@asynccontextmanager
async def looping(
    run: Callable[[asyncio.Event], Awaitable[object]], *, stop_within: float = STOP_SECONDS
) -> AsyncIterator[asyncio.Task[object]]:
    """Run a loop (`worker.run`, `notifier.run`, …) in a task for the block; on leaving it, by the end
    or by a failed assertion, ask the loop to stop and wait for it (`stop_within` seconds at most)."""
    stop = asyncio.Event()

    async def until_stopped() -> object:
        return await run(stop)

    task = asyncio.create_task(until_stopped())
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=stop_within)


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie is dead too: only its exit status is left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # reaped between the two looks
        return False


async def wait_gone(pids: list[int], seconds: float = 10.0) -> bool:
    """Whether every process in `pids` has ended within `seconds` (polled, bounded in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        await asyncio.sleep(0.05)
    return False


async def stopped(process: asyncio.subprocess.Process) -> None:
    """Kill `process` unless it has ended, and reap it: for a test's `finally`."""
    if process.returncode is None:
        process.kill()
    await asyncio.wait_for(process.wait(), timeout=STOP_SECONDS)


def worker_env(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an `invoicebot worker` sending to `smtp`, without this shell's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICEBOT_", "SLACK_"))}
    env.update(
        DATABASE_URL=database_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SMTP_TIMEOUT="5",
        INVOICEBOT_RENDER_PROCESSES="0",
        INVOICEBOT_WORKER_CONCURRENCY="4",
        INVOICEBOT_SECRET_KEY="test-secret",
        **extra,
    )
    return env


async def start_worker(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """`invoicebot worker` running in the background, its output appended to `cwd/worker.log`."""
    log = (cwd / "worker.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(INVOICEBOT, "worker", env=env, cwd=cwd, stdout=log, stderr=log)
    finally:
        log.close()


async def run_until_idle(env: dict[str, str], cwd: Path, *, timeout: float = 240) -> None:
    """`invoicebot worker --until-idle` to its end; it must exit 0 within `timeout`, or it is killed."""
    process = await asyncio.create_subprocess_exec(
        INVOICEBOT,
        "worker",
        "--until-idle",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    finally:
        await stopped(process)
    assert process.returncode == 0, output.decode()[-2000:]
