"""The worker's loop survives a locked or full database and keeps the truth about every delivery.

Real parts throughout: the real worker `run` loop, the real SMTP transport talking to an
aiosmtpd server on 127.0.0.1 (what it received is counted), the real web app serving
`/healthz` and `/metrics` from the same `LoopHealth` the worker reports to, and a real lock
or a real SQLITE_FULL from the database. Thresholds (lock timeout, stall time, backoff) are
constructor arguments set small, so each test takes seconds.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ubl_validator import UblValidator
from services.db.models import DeliveryStatus
from tests.harness.healing import HOLD, METRICS_TOKEN, SMTP_CLIENT, DatabaseLock, get, healing_worker, queue_three
from tests.harness.mail import received_message_ids
from tests.harness.processes import looping
from tests.harness.sending import IDENTITY, queue_delivery, reload
from tests.harness.waiting import until

pytestmark = SMTP_CLIENT


async def test_a_write_lock_held_past_the_lock_timeout_turns_healthz_red_and_then_every_delivery_goes_out_once(
    session, sessions, engine, database_url, org, smtp, transport, served
):
    ids = await queue_three(session, org)
    expected = sorted([(await reload(sessions, d)).message_id for d in ids])
    worker = healing_worker(sessions, transport, served.health)
    # the lock first, then the worker; on leaving (even by a failed assertion) the worker stops, then the lock goes
    async with DatabaseLock(database_url, engine) as lock, looping(worker.run) as running:

        async def red() -> bool:
            return (await get(f"{served.url}/healthz")).status_code == 503

        await until(red, within=HOLD + 5, what="/healthz red while the database is locked")
        answer = await get(f"{served.url}/healthz")
        assert answer.text.startswith("worker: no progress for ")
        if engine.dialect.name == "sqlite":
            assert "while 3 deliveries are due: database is locked" in answer.text
        else:  # the count cannot be read either: the table is locked for readers too
            assert "while work is due: canceling statement due to lock timeout" in answer.text
        metrics = await get(f"{served.url}/metrics", token=METRICS_TOKEN)  # served even when the database cannot answer
        assert 'invoicebot_loop_healthy{loop="worker"} 0.0' in metrics.text
        assert smtp.received == []
        assert not running.done()  # the loop is still there, waiting to retry
        await lock.release()

        async def all_sent_and_green() -> bool:
            healthz = await get(f"{served.url}/healthz")
            return len(smtp.received) >= 3 and healthz.status_code == 200

        await until(all_sent_and_green, within=20, what="every delivery sent and /healthz green again")
    assert received_message_ids(smtp) == expected  # each exactly once
    assert [(await reload(sessions, d)).status for d in ids] == [DeliveryStatus.ACCEPTED] * 3
    assert (await get(f"{served.url}/healthz")).text == "ok"
    metrics = await get(f"{served.url}/metrics", token=METRICS_TOKEN)
    assert 'invoicebot_loop_healthy{loop="worker"} 1.0' in metrics.text


@pytest.fixture
def full_disk(engine: AsyncEngine) -> Any:
    """While `full["on"]`, the disk is full for the worker's writer whenever it records an outcome
    (updates the delivery, inserts its events, audit entry and Slack posts) but not when it claims
    or marks: just before each such statement `PRAGMA max_page_count` caps its connection at the
    database's current size, so a statement that needs a new page gets a real SQLITE_FULL
    ("database or disk is full")."""
    if engine.dialect.name != "sqlite":
        pytest.skip("max_page_count is SQLite's; PostgreSQL would need a full tablespace")
    full = {"on": True}
    claim_or_mark = ("SELECT", "UPDATE deliveries SET status=?, attempts", "UPDATE deliveries SET data_started_at")

    def before(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name.startswith("invoicebot-writer"):
            cap = 1 if full["on"] and not statement.startswith(claim_or_mark) else 1073741823
            cursor.connection.execute(f"PRAGMA max_page_count = {cap}")

    event.listen(Engine, "before_cursor_execute", before)
    yield full
    event.remove(Engine, "before_cursor_execute", before)


async def test_a_full_disk_when_outcomes_are_recorded_keeps_them_until_they_commit_and_sends_each_email_once(
    session, sessions, org, smtp, transport, served, full_disk
):
    # a long (valid) server reply: recording twelve of them needs pages the full disk does not have
    smtp.script.reply_data = "250 2.0.0 Ok: queued as " + "Q" * 400
    ids = [(await queue_delivery(session, org, number=f"INV-{n:04d}")).id for n in range(1, 13)]
    expected = sorted([(await reload(sessions, d)).message_id for d in ids])
    # their e-invoices checked ahead, as in production: no send waits in an inline UBL check
    assert (await UblValidator(sessions=sessions, public_url=IDENTITY.public_url).run_once()).failed == 0
    # as many in flight as the transport has connections: no send waits for a free one
    worker = healing_worker(sessions, transport, served.health, concurrency=2)
    async with looping(worker.run) as running:
        try:

            async def red_with_reason() -> bool:
                answer = await get(f"{served.url}/healthz")
                return answer.status_code == 503 and "database or disk is full" in answer.text

            await until(red_with_reason, within=10, what="/healthz red, saying the disk is full")
            waiting = [r for r in [await reload(sessions, d) for d in ids] if r.status == DeliveryStatus.SENDING]
            assert waiting and all(r.data_started_at is not None for r in waiting)  # sent; the outcome is held
            assert not running.done()
        finally:
            full_disk["on"] = False  # room again (also when an assertion failed: the worker can then stop)

        async def all_recorded() -> bool:
            rows = [await reload(sessions, d) for d in ids]
            healthz = await get(f"{served.url}/healthz")
            return all(r.status == DeliveryStatus.ACCEPTED for r in rows) and healthz.status_code == 200

        await until(all_recorded, within=30, what="every outcome committed once the disk has room")
    assert received_message_ids(smtp) == expected  # sent once each: a held outcome is never a resend
