"""The worker's loop survives a locked or full database and keeps the truth about every delivery.

Real parts throughout: the real worker `run` loop, the real SMTP transport talking to an
aiosmtpd server on 127.0.0.1 (what it received is counted), the real web app serving
`/healthz` and `/metrics` from the same `LoopHealth` the worker reports to, and a real lock
or a real SQLITE_FULL from the database. Thresholds (lock timeout, stall time, backoff) are
constructor arguments set small, so each test takes seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import load_settings
from bot.container import Container
from bot.loop_health import LoopHealth
from bot.notifier import Notifier
from bot.runner import bound_port, web_server
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.smtp_server import ScriptedSmtpServer
from bot.ubl_validator import UblValidator
from bot.worker import Worker
from services.db.models import Delivery, DeliveryStatus, Notification, Organisation, utcnow
from services.email.script import SmtpScript
from services.email.smtp import SmtpTransport
from services.email.transport import BeforeData, Envelope, SendResult, ServerFeatures
from services.sending.pipeline import RenderJob, render_message
from services.sending.queue import RetryPolicy
from services.sending.render_pool import RenderPool
from tests.integration.test_worker import IDENTITY, make_worker, queue_delivery, reload

METRICS_TOKEN = "heal-test-metrics-token"
STALL_AFTER = 1.0  # seconds without progress before /healthz turns red
LOCK_TIMEOUT = 0.3  # seconds the worker's writes wait for a lock
HOLD = LOCK_TIMEOUT * 4 + STALL_AFTER * 2  # the lock is held well past both


@pytest.fixture
async def smtp() -> AsyncIterator[ScriptedSmtpServer]:
    server = ScriptedSmtpServer(script=SmtpScript())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def transport(smtp: ScriptedSmtpServer) -> AsyncIterator[SmtpTransport]:
    # A generous timeout: on a busy machine a 2 s read timeout made one send "transient" (deferred for
    # its 60 s backoff), which is not what these tests are about.
    client = SmtpTransport(host="127.0.0.1", port=smtp.port, security="none", timeout=20.0, pool_size=2)
    yield client
    await client.aclose()


@dataclass
class Served:
    url: str
    health: LoopHealth


@pytest.fixture
async def served(database_url: str, org: Organisation) -> AsyncIterator[Served]:
    """The real web app, built as `invoicebot run` builds it, reporting on a registry the test's worker shares."""
    settings = load_settings(
        DATABASE_URL=database_url,
        INVOICEBOT_SECRET_KEY="heal-test-secret",
        INVOICEBOT_HTTP_PORT=0,
        INVOICEBOT_METRICS_TOKEN=METRICS_TOKEN,
    )
    container = Container.build(settings)
    health = LoopHealth(stall_after=STALL_AFTER)
    server = web_server(container, slack_app=None, host="127.0.0.1", port=0, log_level="warning", health=health)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        await asyncio.sleep(0.01)
    yield Served(f"http://127.0.0.1:{bound_port(server)}", health)
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)
    await container.close()


def healing_worker(
    sessions: async_sessionmaker[AsyncSession], transport: Any, health: LoopHealth, **kwargs: Any
) -> Worker:
    return make_worker(
        sessions,
        transport,
        heartbeat=health.loop("worker", reports_each_round=True),
        **kwargs,
        lock_timeout=LOCK_TIMEOUT,
        max_backoff=0.3,
        poll_interval=0.05,
        # A send whose data-start mark shared a failed round is deferred (nothing went out): retry
        # it within the test's patience rather than in a minute.
        retry=RetryPolicy(max_attempts=8, base_seconds=0.2),
    )


async def until(condition: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    """Poll `condition` until true; bounded in time and in count."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.05) + 1):
        if await condition():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached within {within} s: {what}")


async def get(url: str, *, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url, headers=headers)


class DatabaseLock:
    """Another connection holding the write lock: SQLite `BEGIN EXCLUSIVE`, PostgreSQL `LOCK TABLE`."""

    def __init__(self, database_url: str, engine: AsyncEngine) -> None:
        self.database_url = database_url
        self.engine = engine
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def take(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._sqlite = sqlite3.connect(self.database_url.removeprefix("sqlite:///"), isolation_level=None)
            self._sqlite.execute("BEGIN EXCLUSIVE")
        else:
            self._pg = await self.engine.connect()
            await self._pg.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))

    async def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.rollback()
            await self._pg.close()


async def queue_three(session: AsyncSession, org: Organisation) -> list[int]:
    return [(await queue_delivery(session, org, number=f"INV-{n:04d}")).id for n in (1, 2, 3)]


def received_message_ids(server: ScriptedSmtpServer) -> list[str]:
    return sorted(str(BytesParser(policy=policy.default).parsebytes(m.data)["Message-ID"]) for m in server.received)


async def test_a_write_lock_held_past_the_lock_timeout_turns_healthz_red_and_then_every_delivery_goes_out_once(
    session, sessions, engine, database_url, org, smtp, transport, served
):
    ids = await queue_three(session, org)
    expected = sorted([(await reload(sessions, d)).message_id for d in ids])
    lock = DatabaseLock(database_url, engine)
    await lock.take()
    worker = healing_worker(sessions, transport, served.health)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:

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
    finally:
        await lock.release()

    async def all_sent_and_green() -> bool:
        healthz = await get(f"{served.url}/healthz")
        return len(smtp.received) >= 3 and healthz.status_code == 200

    await until(all_sent_and_green, within=20, what="every delivery sent and /healthz green again")
    stop.set()
    await asyncio.wait_for(running, timeout=10)
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
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))

    async def red_with_reason() -> bool:
        answer = await get(f"{served.url}/healthz")
        return answer.status_code == 503 and "database or disk is full" in answer.text

    await until(red_with_reason, within=10, what="/healthz red, saying the disk is full")
    waiting = [r for r in [await reload(sessions, d) for d in ids] if r.status == DeliveryStatus.SENDING]
    assert waiting and all(r.data_started_at is not None for r in waiting)  # sent; the outcome is held
    assert not running.done()
    full_disk["on"] = False

    async def all_recorded() -> bool:
        rows = [await reload(sessions, d) for d in ids]
        healthz = await get(f"{served.url}/healthz")
        return all(r.status == DeliveryStatus.ACCEPTED for r in rows) and healthz.status_code == 200

    await until(all_recorded, within=30, what="every outcome committed once the disk has room")
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    assert received_message_ids(smtp) == expected  # sent once each: a held outcome is never a resend


class BreakingTransport:
    """The real SMTP transport, except for scripted recipients (a fake of our own Transport interface):
    `before@` raises an unexpected error before any SMTP command; `after@` raises one after the
    server accepted the message data."""

    def __init__(self, real: SmtpTransport) -> None:
        self.real = real

    async def send(
        self, envelope: Envelope, message: bytes | Any, *, before_data: BeforeData | None = None
    ) -> SendResult:
        if "before@acme.example" in envelope.recipients:
            raise UnicodeEncodeError("ascii", "b\u00e9fore", 1, 2, "the address cannot be encoded")
        result = await self.real.send(envelope, message, before_data=before_data)
        if "after@acme.example" in envelope.recipients:
            raise RuntimeError("the connection object broke after the reply")
        return result

    async def verify(self) -> ServerFeatures:
        return await self.real.verify()

    async def aclose(self) -> None:
        await self.real.aclose()


async def render_except_inv_0002(job: RenderJob) -> bytes:
    """The real renderer, except that invoice INV-0002's render raises as a bug in it would."""
    if job.document.number == "INV-0002":
        raise ZeroDivisionError("division by zero")
    return render_message(job)


async def test_an_unexpected_error_in_one_delivery_fails_it_with_an_alert_and_the_rest_of_the_batch_goes_out(
    session, sessions, org, smtp, transport
):
    fine = await queue_delivery(session, org, number="INV-0001")
    bad_render = await queue_delivery(session, org, number="INV-0002")
    bad_smtp = await queue_delivery(session, org, number="INV-0003", to=("before@acme.example",))
    after_data = await queue_delivery(session, org, number="INV-0004", to=("after@acme.example",))
    also_fine = await queue_delivery(session, org, number="INV-0005")
    worker = make_worker(sessions, BreakingTransport(transport), render=render_except_inv_0002)

    assert await worker.drain() == 5  # one claimed batch

    assert (await reload(sessions, fine.id)).status == DeliveryStatus.ACCEPTED
    assert (await reload(sessions, also_fine.id)).status == DeliveryStatus.ACCEPTED
    rendered = await reload(sessions, bad_render.id)
    assert rendered.status == DeliveryStatus.FAILED
    assert rendered.last_error == "could not render the email: ZeroDivisionError: division by zero"
    before = await reload(sessions, bad_smtp.id)
    assert before.status == DeliveryStatus.FAILED
    assert (before.last_error or "").startswith("an unexpected error before the email was sent: UnicodeEncodeError")
    after = await reload(sessions, after_data.id)
    assert after.status == DeliveryStatus.UNKNOWN  # it reached the server: never resent by itself
    assert "after the email was handed to the server" in (after.last_error or "")
    assert sorted(m.recipients[0] for m in smtp.received) == [
        "after@acme.example",
        "ap@acme.example",
        "ap@acme.example",
    ]
    await worker.recover()
    assert await worker.drain() == 0 and len(smtp.received) == 3

    async with sessions() as check:
        alerts = (
            await check.execute(
                select(Notification.delivery_id, Notification.payload).where(Notification.kind == "delivery_alert")
            )
        ).all()
    by_delivery = {delivery_id: payload for delivery_id, payload in alerts}
    assert set(by_delivery) == {bad_render.id, bad_smtp.id, after_data.id}
    assert by_delivery[bad_render.id]["diagnostic"] == rendered.last_error

    fake_slack = FakeSlackApi(token="xoxb-heal-test")
    await fake_slack.start()
    try:
        client = AsyncWebClient(token="xoxb-heal-test", base_url=fake_slack.base_url, timeout=5)
        notifier = Notifier(sessions, client, "C0NOTIFY", batch_size=50)
        for _ in range(5):  # status messages first, then the alerts in their threads
            await notifier.drain_once()
        threads = [
            call.args
            for call in fake_slack.calls_to("chat.postMessage")
            if call.args.get("thread_ts")
            and "division by zero" in str(call.args.get("text", "")) + str(call.args.get("blocks", ""))
        ]
        assert len(threads) == 1
    finally:
        await fake_slack.stop()


async def test_stale_recovery_fails_a_delivery_past_the_attempt_limit_with_the_reason_and_an_alert(
    session, sessions, org, smtp, transport
):
    worn = await queue_delivery(session, org, number="INV-0001")
    fresh = await queue_delivery(session, org, number="INV-0002")
    long_ago = utcnow().replace(year=2020)
    for delivery_id, attempts in ((worn.id, 3), (fresh.id, 1)):
        row = await session.get(Delivery, delivery_id)
        assert row is not None
        row.status, row.claimed_at, row.claimed_by, row.attempts = DeliveryStatus.SENDING, long_ago, "gone", attempts
        row.last_error = "render process exited"
    await session.commit()
    worker = make_worker(sessions, transport)  # max_attempts=3

    assert await worker.recover() == (1, 0, 1)

    stored = await reload(sessions, worn.id)
    assert stored.status == DeliveryStatus.FAILED
    assert stored.last_error == "gave up after 3 attempts: render process exited"
    assert (await reload(sessions, fresh.id)).status == DeliveryStatus.QUEUED
    async with sessions() as check:
        alert = (
            await check.execute(
                select(Notification.payload).where(
                    Notification.delivery_id == worn.id, Notification.kind == "delivery_alert"
                )
            )
        ).scalar_one()
    assert alert["type"] == "failed" and alert["diagnostic"] == stored.last_error


async def test_a_render_pool_that_cannot_take_the_job_defers_the_delivery_instead_of_failing_it(
    session, sessions, org, smtp, transport
):
    delivery = await queue_delivery(session, org)
    pool = RenderPool(1)
    await pool.aclose()  # e.g. shutting down: the pool's fault, not the invoice's
    worker = Worker(
        sessions=sessions,
        transport=transport,
        identity=IDENTITY,
        render_pool=pool,
        retry=RetryPolicy(max_attempts=3),
        worker_id="test-worker",
    )

    assert await worker.drain() == 1

    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED
    assert stored.last_error == "could not render the email: the render pool is closed"
    assert smtp.received == []
