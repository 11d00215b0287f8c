"""Exactly-once across real processes: two workers on one database, and a worker killed at random.

The SMTP server runs in this test's event loop on 127.0.0.1; the workers are real
`invoicebot worker` processes. What counts is what the server received, by Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import Attachments, Delivery, DeliveryStatus, Organisation, utcnow
from tests import factories

INVOICEBOT = str(Path(sys.executable).with_name("invoicebot"))


async def queue_many(session: AsyncSession, org: Organisation, count: int) -> list[str]:
    """`count` queued deliveries (one per invoice), inserted in bulk; returns their Message-IDs."""
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme)
    now = utcnow()
    rows = [
        {
            "organisation_id": org.id,
            "invoice_id": invoice.id,
            "status": DeliveryStatus.QUEUED,
            "to": ["ap@acme.example"],
            "cc": [],
            "bcc": [],
            "subject": f"Invoice {n}",
            "body_text": "Please find the invoice.",
            "language": "en",
            "attachments": Attachments.NONE,
            "message_id": f"<bulk-{n}@example.com>",
            "verp_token": f"tok{n:06d}",
            "requested_by": "U_ALICE",
            "next_attempt_at": now,
            "recipient_results": {},
        }
        for n in range(count)
    ]
    await session.execute(insert(Delivery), rows)
    await session.commit()
    return [str(row["message_id"]) for row in rows]


def worker_env(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path, **extra: str) -> dict[str, str]:
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


async def run_until_idle(env: dict[str, str], cwd: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        INVOICEBOT,
        "worker",
        "--until-idle",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode == 0, output.decode()[-2000:]


def received_ids(smtp: ScriptedSmtpServer) -> Counter[str]:
    parser = BytesHeaderParser(policy=policy.default)
    return Counter(str(parser.parsebytes(m.data)["Message-ID"]) for m in smtp.received)


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> Counter[str]:
    async with sessions() as session:
        return Counter((await session.execute(select(Delivery.status))).scalars())


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="two workers on one database need PostgreSQL")
async def test_two_worker_processes_send_500_deliveries_each_exactly_once(
    session, sessions, org, database_url, smtp, tmp_path
):
    message_ids = await queue_many(session, org, 500)
    env = worker_env(database_url, smtp, tmp_path)

    await asyncio.gather(run_until_idle(env, tmp_path), run_until_idle(env, tmp_path))

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
        await asyncio.sleep(rng.uniform(0.4, 1.5))
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        await process.wait()
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
