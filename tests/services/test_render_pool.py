"""The render pool: real child processes, driven from the event loop.

The functions sent to the children are mostly the standard library's, so each test shows what a
caller sees: results, the child's exception, a killed child, a cancelled job, a clean stop.
"""

from __future__ import annotations

import asyncio
import operator
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator

import pytest

from services.documents.model import PartyData
from services.documents.ubl import render_invoice_ubl
from services.errors import InvalidInput
from services.sending.render_pool import RenderPool, RenderProcessDied
from tests.harness import documents as samples
from tests.harness.processes import alive, wait_gone


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    render_pool = RenderPool(2)
    await render_pool.start()
    yield render_pool
    await render_pool.aclose()


async def test_jobs_run_in_the_children_and_return_their_results(pool: RenderPool) -> None:
    pids = await asyncio.gather(*(pool.run(os.getpid) for _ in range(8)))
    assert set(pids) == set(pool.pids) and len(set(pids)) == 2 and os.getpid() not in pids
    assert await pool.run(operator.mul, 6, 7) == 42
    big = await pool.run(bytes, 300_000)  # bytes come back as they are, larger than any pipe buffer
    assert big == bytes(300_000)


async def test_many_concurrent_jobs_each_get_their_own_answer(pool: RenderPool) -> None:
    results = await asyncio.gather(*(pool.run(operator.mul, n, n) for n in range(200)))
    assert results == [n * n for n in range(200)]


async def test_an_exception_in_the_child_is_raised_to_the_caller_and_the_child_lives_on(pool: RenderPool) -> None:
    before = sorted(pool.pids)
    with pytest.raises(ValueError, match="invalid literal"):
        await pool.run(int, "not a number")
    assert await pool.run(operator.add, 1, 2) == 3
    assert sorted(pool.pids) == before


async def test_a_killed_child_fails_only_its_jobs_and_is_replaced(pool: RenderPool) -> None:
    slow = asyncio.ensure_future(pool.run(time.sleep, 30))
    await asyncio.sleep(0.1)
    idle = await pool.run(os.getpid)  # goes to the child with nothing to do
    (holder,) = set(pool.pids) - {idle}
    os.kill(holder, signal.SIGKILL)
    with pytest.raises(RenderProcessDied):
        await asyncio.wait_for(slow, 10)
    assert await pool.run(operator.mul, 3, 3) == 9
    await asyncio.gather(*(pool.run(os.getpid) for _ in range(4)))
    assert holder not in pool.pids and idle in pool.pids and len(pool.pids) == 2  # a new child took its place


async def test_a_cancelled_job_does_not_shift_the_answers_of_the_next_ones(pool: RenderPool) -> None:
    first = asyncio.ensure_future(pool.run(time.sleep, 0.3))
    await asyncio.sleep(0.05)
    first.cancel()
    answers = await asyncio.gather(*(pool.run(operator.add, n, 100) for n in range(6)))
    assert answers == [n + 100 for n in range(6)]


async def test_closing_stops_every_child_and_refuses_new_jobs() -> None:
    pool = RenderPool(2)
    await pool.start()
    pids = pool.pids
    await pool.aclose()
    assert await wait_gone(pids, 1.0)
    with pytest.raises(RuntimeError, match="closed"):
        await pool.run(os.getpid)


async def test_children_exit_by_themselves_when_the_parent_is_killed() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from services.sending.render_pool import RenderPool

        async def main():
            pool = RenderPool(2)
            await pool.start()
            print(*pool.pids, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait(timeout=10)
    assert await wait_gone(pids)


async def test_ctrl_c_in_the_terminal_leaves_the_children_to_the_parent(pool: RenderPool) -> None:
    for pid in pool.pids:
        os.kill(pid, signal.SIGINT)  # what a terminal sends to the whole process group
    await asyncio.sleep(0.2)
    assert await pool.run(operator.mul, 2, 21) == 42


async def test_a_domain_error_arrives_as_itself_with_its_message(pool: RenderPool) -> None:
    with pytest.raises(InvalidInput, match="no country"):
        await pool.run(render_invoice_ubl, samples.document(buyer=PartyData(name="Nowhere Ltd")))
