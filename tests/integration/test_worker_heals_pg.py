"""The PostgreSQL half of the healing tests: a real full disk, and a lock held on the Slack queue.

A full disk here is real: a small tmpfs mounted for the test, a PostgreSQL tablespace on it
holding the tables an outcome writes to, and a file filling it while the worker records
outcomes. PostgreSQL then answers "could not extend file …: No space left on device"
(SQLSTATE 53100) and carries on — its WAL lives elsewhere — which the writer must treat as
"not now" and retry, never as a failed delivery. Mounting needs root and a database server on
this machine; elsewhere the test says why it skips. The tables go back to the default
tablespace and the tmpfs is unmounted even when the test fails: CI runs this against the
database every other test uses.

The notifier test holds `LOCK TABLE notifications` past the notifier's lock timeout: the round
must fail with the reason on `/healthz`, not hang silently, and every post go out once after.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.notifier import Notifier, NotifierTuning, PostRouting
from bot.sandbox.slack_api import FakeSlackApi
from bot.ubl_validator import UblValidator
from services.db.models import DeliveryStatus, Notification
from tests.harness.healing import LOCK_TIMEOUT, SMTP_CLIENT, DatabaseLock, Served, get, healing_worker
from tests.harness.mail import received_message_ids
from tests.harness.processes import looping
from tests.harness.sending import IDENTITY, queue_delivery, reload
from tests.harness.waiting import until

pytestmark = SMTP_CLIENT  # the same SMTP client as the SQLite half; `served`, `smtp`, `transport` are the harness's

# The tables an outcome inserts into; claims and data-start marks write none of them.
OUTCOME_TABLES = ("delivery_events", "audit_log", "notifications")
TMPFS_BYTES = 1024 * 1024
MOVE_LOCK_TIMEOUT = "30s"  # moving the tables back waits this long for the test's last connections


@dataclass
class FullTablespace:
    mountpoint: Path
    filler: Path

    def fill(self) -> None:
        """Write until the filesystem refuses: from here on no table file there can grow."""
        chunk = bytes(64 * 1024)
        with self.filler.open("wb", buffering=0) as out:
            for _ in range(2 * TMPFS_BYTES // 4096):  # bounded: the tmpfs is far smaller
                try:
                    out.write(chunk if len(chunk) > 4096 else chunk[:4096])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 4096:
                        return
                    chunk = chunk[:4096]  # fill the last pages one by one
        raise AssertionError(f"{self.mountpoint} did not fill up")

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()


def _why_no_full_disk(engine: AsyncEngine) -> str | None:
    if engine.dialect.name != "postgresql":
        return "needs TEST_DATABASE_URL on PostgreSQL (SQLite's full disk is tested with max_page_count)"
    if make_url(str(engine.url)).host not in ("127.0.0.1", "localhost", "::1"):
        return "the database server must run on this machine to use a tmpfs mounted here"
    if os.geteuid() != 0:
        return "mounting the small tmpfs for a full tablespace needs root"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no `postgres` OS user to own the tablespace directory"
    return None


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


async def _autocommit(engine: AsyncEngine) -> AsyncConnection:
    connection = await engine.connect()
    return await connection.execution_options(isolation_level="AUTOCOMMIT")


@pytest.fixture
async def full_tablespace(engine: AsyncEngine) -> AsyncIterator[FullTablespace]:
    """The outcome tables on a 1 MiB tmpfs of their own (not full yet: call `fill()`)."""
    reason = _why_no_full_disk(engine)
    if reason is not None:
        pytest.skip(reason)
    owner = pwd.getpwnam("postgres")
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    mountpoint = Path(tempfile.mkdtemp(prefix="invoicebot-full-disk-", dir=base))
    mounted = _run(
        "mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700,uid={owner.pw_uid},gid={owner.pw_gid}",
        "tmpfs", str(mountpoint),
    )  # fmt: skip
    if mounted.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    full = FullTablespace(mountpoint, mountpoint / "filler")
    admin = await _autocommit(engine)
    name = f"full_disk_{(await admin.execute(text('SELECT current_database()'))).scalar_one()}"
    moved: list[str] = []
    try:
        with contextlib.suppress(Exception):  # left by a run that was killed before its cleanup
            await admin.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        try:
            await admin.execute(text(f"CREATE TABLESPACE {name} LOCATION '{mountpoint}'"))
        except Exception as exc:
            pytest.skip(f"PostgreSQL cannot use {mountpoint} as a tablespace: {exc}")
        for table in OUTCOME_TABLES:
            await admin.execute(text(f"ALTER TABLE {table} SET TABLESPACE {name}"))
            moved.append(table)
        yield full
    finally:
        full.free()  # first: moving the tables back needs room to read and write them
        try:
            await admin.execute(text(f"SET lock_timeout = '{MOVE_LOCK_TIMEOUT}'"))
            for table in moved:
                await admin.execute(text(f"ALTER TABLE {table} SET TABLESPACE pg_default"))
            await admin.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        finally:
            await admin.close()
        # Only once nothing lives there: unmounting under a table would break the database.
        unmounted = _run("umount", str(mountpoint))
        assert unmounted.returncode == 0, f"could not unmount {mountpoint}: {unmounted.stderr}"
        mountpoint.rmdir()


async def test_a_full_postgresql_tablespace_when_outcomes_are_recorded_keeps_them_until_commit_and_sends_each_once(
    session, sessions, org, smtp, transport, served: Served, full_tablespace: FullTablespace
):
    ids = [(await queue_delivery(session, org, number=f"INV-{n:04d}")).id for n in range(1, 13)]
    expected = sorted([(await reload(sessions, d)).message_id for d in ids])
    # their e-invoices checked ahead, as in production: no send waits in an inline UBL check
    assert (await UblValidator(sessions=sessions, public_url=IDENTITY.public_url).run_once()).failed == 0
    full_tablespace.fill()
    worker = healing_worker(sessions, transport, served.health, concurrency=2)
    # on leaving, even by a failed assertion: the disk freed, then the worker stopped (the fixture then
    # moves the tables back and unmounts; nothing of this test still holds a connection)
    async with looping(worker.run, stop_within=20) as running:
        try:

            async def red_with_reason() -> bool:
                answer = await get(f"{served.url}/healthz")
                return answer.status_code == 503 and "No space left on device" in answer.text

            # red once no claim is left to make (a claim is progress) and no outcome commits: after
            # twelve renders and sends, which on a loaded machine take a while
            await until(red_with_reason, within=90, what="/healthz red, saying the disk is full")
            answer = (await get(f"{served.url}/healthz")).text
            assert answer.startswith("worker: no progress for ") and "could not extend file" in answer
            waiting = [r for r in [await reload(sessions, d) for d in ids] if r.status == DeliveryStatus.SENDING]
            assert waiting and all(r.data_started_at is not None for r in waiting)  # sent; the outcome is held
            assert not any(r.status == DeliveryStatus.FAILED for r in [await reload(sessions, d) for d in ids])
            assert not running.done()
            full_tablespace.free()

            async def all_recorded() -> bool:
                rows = [await reload(sessions, d) for d in ids]
                healthz = await get(f"{served.url}/healthz")
                return all(r.status == DeliveryStatus.ACCEPTED for r in rows) and healthz.status_code == 200

            await until(all_recorded, within=90, what="every outcome committed once the disk has room")
            assert not running.done()  # the same loop: no restart
        finally:
            full_tablespace.free()
    assert received_message_ids(smtp) == expected  # sent once each: a held outcome is never a resend
    assert (await get(f"{served.url}/healthz")).text == "ok"


async def _notification_statuses(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as check:
        return list((await check.execute(select(Notification.status).order_by(Notification.id))).scalars())


async def test_a_lock_held_on_the_slack_queue_fails_the_notifier_round_with_the_reason_and_then_all_is_posted_once(
    engine, database_url, session, sessions, org, served: Served
):
    if engine.dialect.name != "postgresql":
        pytest.skip("LOCK TABLE is PostgreSQL's; SQLite's notifier gives up after its busy timeout already")
    for n in (1, 2, 3):
        await queue_delivery(session, org, number=f"INV-{n:04d}")
    owed = len(await _notification_statuses(sessions))
    assert owed >= 3  # a status message per queued send, at least
    fake_slack = FakeSlackApi(token="xoxb-heal-test")
    await fake_slack.start()
    try:
        client = AsyncWebClient(token="xoxb-heal-test", base_url=fake_slack.base_url, timeout=5)
        notifier = Notifier(
            sessions,
            client,
            PostRouting(default_channel="C0NOTIFY"),
            heartbeat=served.health.loop("Slack notifier", reports_each_round=True),
            tuning=NotifierTuning(poll_interval=0.05, max_backoff=0.3, lock_timeout=LOCK_TIMEOUT),
        )
        # the lock first, then the notifier; on leaving (even by a failed assertion) the notifier
        # stops, the lock goes, then fake Slack
        locked = DatabaseLock(database_url, engine, table="notifications")
        async with locked as lock, looping(notifier.run, stop_within=20) as running:

            async def red_with_reason() -> bool:
                answer = await get(f"{served.url}/healthz")
                return answer.status_code == 503 and "lock timeout" in answer.text

            # a notifier hanging behind the lock would turn red too, but only as "its round has not ended"
            await until(red_with_reason, within=30, what="/healthz red, saying the notifier waits for a lock")
            answer = (await get(f"{served.url}/healthz")).text
            assert answer.startswith("Slack notifier: no progress for ")
            assert "while Slack posts are due: canceling statement due to lock timeout" in answer
            assert fake_slack.calls_to("chat.postMessage") == []
            assert not running.done()
            await lock.release()

            async def all_posted_and_green() -> bool:
                statuses = await _notification_statuses(sessions)
                healthz = await get(f"{served.url}/healthz")
                return statuses == ["posted"] * owed and healthz.status_code == 200

            await until(all_posted_and_green, within=60, what="every Slack post made and /healthz green again")
    finally:
        await fake_slack.stop()
    assert len(fake_slack.calls_to("chat.postMessage")) == owed  # each once: nothing posted twice
    assert (await get(f"{served.url}/healthz")).text == "ok"
