"""Reminders exactly once across real processes (issue 14, reliability): two producers racing on one
PostgreSQL, and a producer killed at random moments, judged where it counts — the emails a real SMTP
server (aiosmtpd, in this test's event loop) received, by Message-ID and by customer.

The producers are the real `invoicebot reminders run --as-of` (produce, then queue the emails, as a
worker's reminders loop does each minute); the emails go out through a real `invoicebot worker
--until-idle`. The moment evaluated is a Wednesday morning inside the default send window, fixed so
the schedule does not depend on the day the test runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from datetime import date
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import Delivery, DeliveryKind, Organisation, Reminder, ReminderInvoice
from tests import factories
from tests.harness.cli import INVOICEBOT
from tests.harness.mail import received_ids
from tests.harness.processes import run_until_idle, stopped, worker_env
from tests.services.reminders.ledger import sent_invoice

MOMENT = "2026-10-21T10:00:00Z"  # a Wednesday: the invoices due a week before reach the +7 step that day
DUE = date(2026, 10, 14)


async def _customers_with_overdue_invoices(session: AsyncSession, org: Organisation, customers: int, each: int) -> None:
    for n in range(customers):
        owner = await factories.customer(
            session, org.id, ref=f"C{n:03d}", name=f"Customer {n:03d}", emails=(f"ap{n:03d}@customers.example",)
        )
        for k in range(each):
            await sent_invoice(session, org.id, owner, f"INV-{n:03d}-{k}", DUE)


def _run_once() -> list[str]:
    return [INVOICEBOT, "reminders", "run", "--as-of", MOMENT]


def _producer_command(rounds: int) -> list[str]:
    """A shell running `invoicebot reminders run --as-of MOMENT` `rounds` times, one after the other."""
    one = f"{INVOICEBOT} reminders run --as-of {MOMENT} >/dev/null 2>&1"
    return ["bash", "-c", f"for i in $(seq {rounds}); do {one}; done"]


def _emails_by_customer(smtp: ScriptedSmtpServer) -> Counter[str]:
    parser = BytesHeaderParser(policy=policy.default)
    return Counter(str(parser.parsebytes(message.data)["To"]) for message in smtp.received)


async def _count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="two producers on one database need PostgreSQL")
async def test_two_processes_evaluating_the_schedule_20_times_at_once_send_each_reminder_once(
    session, sessions, org, database_url, smtp, tmp_path: Path
):
    await _customers_with_overdue_invoices(session, org, customers=12, each=2)
    env = worker_env(database_url, smtp, tmp_path)

    producers = [await asyncio.create_subprocess_exec(*_producer_command(20), env=env, cwd=tmp_path) for _ in range(2)]
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in producers)), timeout=400)
    finally:
        for producer in producers:
            await stopped(producer)
    await run_until_idle(env, tmp_path)

    got = received_ids(smtp)
    assert len(got) == 12 and max(got.values()) == 1, got  # each reminder email once, by Message-ID
    assert _emails_by_customer(smtp) == Counter({f"ap{n:03d}@customers.example": 1 for n in range(12)})
    assert await _count(sessions, Reminder) == 12 and await _count(sessions, ReminderInvoice) == 24
    async with sessions() as check:
        kinds = (await check.execute(select(Delivery.kind, Delivery.status))).all()
    assert Counter(kinds) == Counter({(DeliveryKind.REMINDER, "accepted"): 12})


async def test_a_producer_killed_at_random_moments_then_run_again_doubles_nothing_and_misses_nothing(
    session, sessions, org, database_url, smtp, tmp_path: Path
):
    await _customers_with_overdue_invoices(session, org, customers=60, each=5)
    env = worker_env(database_url, smtp, tmp_path)
    rng = random.Random(20261205)
    kills = 0
    for _ in range(5):
        producer = await asyncio.create_subprocess_exec(
            *_run_once(), env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await asyncio.sleep(rng.uniform(0.8, 3.0))  # startup, planning, writing or queueing the emails
            if producer.returncode is None:
                producer.send_signal(signal.SIGKILL)
                kills += 1
        finally:
            await stopped(producer)
    again = await asyncio.create_subprocess_exec(
        *_run_once(), env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output = (await asyncio.wait_for(again.communicate(), timeout=120))[0]
    assert again.returncode == 0, output.decode()[-2000:]
    await run_until_idle(env, tmp_path)

    got = received_ids(smtp)
    assert max(got.values(), default=1) == 1, "a reminder email was sent twice"
    assert _emails_by_customer(smtp) == Counter({f"ap{n:03d}@customers.example": 1 for n in range(60)})
    assert await _count(sessions, Reminder) == 60  # one per customer and step, none left empty
    assert await _count(sessions, ReminderInvoice) == 300  # every invoice reminded once: nothing missed
    assert kills >= 1
