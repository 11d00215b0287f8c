"""A render that hangs, in a real render process, through the real worker and SMTP server.

Before the render pool had a time limit, the hung child kept sleeping with its share of the
pool for good. Now the job fails past `job_seconds`, the child is killed and replaced: the
hanging invoice is retried and, past the attempt limit, failed with the reason; every other
invoice goes out exactly once. (Jobs queued behind a hung one on the same child are failed
as when a child dies: tests/services/test_render_pool_time_limit.py.)
"""

from __future__ import annotations

import asyncio
import os
import time

from services.db.models import DeliveryStatus
from services.sending.pipeline import RenderJob, render_message
from services.sending.queue import RetryPolicy
from services.sending.render_pool import RenderPool
from tests.harness.healing import SMTP_CLIENT
from tests.harness.mail import received_message_ids
from tests.harness.processes import wait_gone
from tests.harness.sending import make_worker, queue_delivery, reload

pytestmark = SMTP_CLIENT  # as the healing tests: a real SMTP server and a patient client

JOB_SECONDS = 8.0  # generous: a real render on a busy machine stays well under it
HANGING = "INV-0002"


def render_or_hang(job: RenderJob) -> bytes:
    """Runs in a render process: the real renderer, except that invoice INV-0002 never finishes."""
    if job.document.number == HANGING:
        time.sleep(3600)
    return render_message(job)


async def test_a_render_that_hangs_is_stopped_at_the_time_limit_and_the_rest_of_the_batch_goes_out_once(
    session, sessions, org, smtp, transport
):
    ids = {n: (await queue_delivery(session, org, number=f"INV-{n:04d}")).id for n in range(1, 6)}
    pool = RenderPool(1, preload=("services.sending.pipeline", __name__), job_seconds=JOB_SECONDS)
    try:
        await pool.start()
        first_pids = pool.pids

        async def render(job: RenderJob) -> bytes:
            return await pool.run(render_or_hang, job)

        # one render at a time: no other invoice waits behind the hung one on its child
        retry = RetryPolicy(max_attempts=2, base_seconds=0.2)
        worker = make_worker(sessions, transport, render=render, retry=retry, concurrency=1)
        deadline = time.monotonic() + 8 * JOB_SECONDS + 120  # two hangs and restarts, not the hour of sleep
        for _ in range(500):  # bounded in count and in time
            await asyncio.wait_for(worker.drain(), timeout=4 * JOB_SECONDS + 60)
            rows = {n: await reload(sessions, d) for n, d in ids.items()}
            if all(row.status in (DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED) for row in rows.values()):
                break
            assert time.monotonic() < deadline, {n: (r.status, r.last_error) for n, r in rows.items()}
            await asyncio.sleep(0.1)

        hung = rows.pop(2)
        assert hung.status == DeliveryStatus.FAILED
        assert f"the render took longer than {JOB_SECONDS:g} s; its process was stopped" in (hung.last_error or "")
        assert all(row.status == DeliveryStatus.ACCEPTED for row in rows.values())
        assert received_message_ids(smtp) == sorted(str(row.message_id) for row in rows.values())  # once each
        assert await wait_gone(first_pids, 30)  # the hung child was killed ...
        assert await asyncio.wait_for(pool.run(os.getpid), 60) not in first_pids  # ... and replaced when needed
    finally:
        await pool.aclose()
