"""Exactly-once across real processes: two workers on one database, and a worker killed at random.

The SMTP server runs in this test's event loop on 127.0.0.1; the workers are real
`invoicebot worker` processes. What counts is what the server received, by Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import Delivery
from tests.harness.cli import INVOICEBOT
from tests.harness.mail import received_ids
from tests.harness.processes import run_until_idle, stopped, worker_env
from tests.harness.sending import queue_many


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> Counter[str]:
    async with sessions() as session:
        return Counter((await session.execute(select(Delivery.status))).scalars())


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="two workers on one database need PostgreSQL")
async def test_two_worker_processes_send_500_deliveries_each_exactly_once(
    session, sessions, org, database_url, smtp, tmp_path
):
    message_ids = await queue_many(session, org, 500)
    env = worker_env(database_url, smtp, tmp_path)

    async with asyncio.TaskGroup() as workers:  # one that fails cancels the other, which kills its process
        for _ in range(2):
            workers.create_task(run_until_idle(env, tmp_path))

    got = received_ids(smtp)
    assert sorted(got) == sorted(message_ids)
    assert max(got.values()) == 1
    assert await statuses(sessions) == Counter({"accepted": 500})


async def test_a_worker_killed_at_random_moments_never_duplicates_and_leaves_nothing_sending(
    session, sessions, org, database_url, smtp, tmp_path
):
    message_ids = await queue_many(session, org, 300)
    env = worker_env(database_url, smtp, tmp_path, INVOICEBOT_STALE_AFTER_SECONDS="1")
    rng = random.Random(20261123)
    kills = 0
    for _ in range(6):
        process = await asyncio.create_subprocess_exec(
            INVOICEBOT,
            "worker",
            "--until-idle",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.sleep(rng.uniform(0.4, 1.5))
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        finally:
            await stopped(process)
    await asyncio.sleep(1.2)  # let the killed workers' claims go stale
    await run_until_idle(env, tmp_path)

    got = received_ids(smtp)
    assert max(got.values(), default=1) == 1, "an email was sent twice"
    async with sessions() as check:
        rows = (await check.execute(select(Delivery.message_id, Delivery.status, Delivery.data_started_at))).all()
    by_status = Counter(status for _, status, _ in rows)
    assert by_status.get("sending", 0) == 0 and by_status.get("queued", 0) == 0
    assert set(by_status) <= {"accepted", "unknown"}
    for message_id, status, data_started_at in rows:
        if status == "accepted":
            assert got[message_id] == 1
        else:  # unknown: the worker died after handing over the data, so it is a person's call
            assert data_started_at is not None
    assert sum(got.values()) + by_status.get("unknown", 0) >= len(message_ids)
    assert kills >= 1
