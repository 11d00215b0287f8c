"""The render pool's time limit: a job that hangs in a real child process does not keep it.

The hanging job is the standard library's `time.sleep`, run in a real child. Before the
limit existed, the caller gave up on such a job but the child slept on, holding its share of
the pool for good; now the job fails with `RenderTimedOut`, the child is killed (failing
only the jobs queued on it, as a child that dies does) and the next job gets a new child.
"""

from __future__ import annotations

import asyncio
import operator
import os
import time

import pytest

from services.sending.render_pool import RenderPool, RenderProcessDied, RenderTimedOut
from tests.harness.processes import wait_gone

PATIENCE = 60.0  # seconds: a bound for each wait on a busy machine, never a sleep


async def test_a_job_past_the_time_limit_fails_and_its_hung_process_is_killed_and_replaced() -> None:
    pool = RenderPool(1, job_seconds=1.0)
    try:
        await pool.start()
        [hung_pid] = pool.pids
        started = time.monotonic()
        hanging = asyncio.create_task(pool.run(time.sleep, 3600))
        queued_behind = asyncio.create_task(pool.run(operator.mul, 6, 7))

        with pytest.raises(RenderTimedOut, match=r"took longer than 1 s"):
            await asyncio.wait_for(hanging, PATIENCE)
        assert time.monotonic() - started < PATIENCE / 2  # the limit, not the hour of sleep
        with pytest.raises(RenderProcessDied):  # only the killed child's own jobs fail
            await asyncio.wait_for(queued_behind, PATIENCE)
        assert await wait_gone([hung_pid], PATIENCE), "the hung render process is still running"

        assert await asyncio.wait_for(pool.run(operator.mul, 6, 7), PATIENCE) == 42  # a new child
        [new_pid] = pool.pids
        assert new_pid != hung_pid
        assert await asyncio.wait_for(pool.run(os.getpid), PATIENCE) == new_pid
    finally:
        await pool.aclose()


async def test_the_time_limit_counts_from_when_a_job_starts_not_from_when_it_was_queued() -> None:
    # two 1.5 s jobs on one child: 3 s from the first one's queueing, each well within 2.5 s
    pool = RenderPool(1, job_seconds=2.5)
    try:
        await pool.start()
        [pid] = pool.pids
        first = pool.run(time.sleep, 1.5)
        second = pool.run(time.sleep, 1.5)
        assert list(await asyncio.wait_for(asyncio.gather(first, second), PATIENCE)) == [None, None]
        assert pool.pids == [pid]  # nothing was killed
    finally:
        await pool.aclose()
