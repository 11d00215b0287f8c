"""A separate worker's health reaches the web process's `/healthz` and `/metrics` through the database.

The web app is the real one (`web_server`, as `invoicebot web` builds it) with no loop of its
own. The worker is a real `invoicebot worker` process (killed, restarted, stopped), or a real
`Worker` with its `HealthReporter` in this event loop while the database is locked.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.loop_health import LoopHealth
from bot.loop_reports import HealthReporter
from bot.runner import web_server
from services.db.models import LoopHeartbeat, Organisation
from services.email.smtp import SmtpRelay, SmtpTransport
from tests.harness.healing import HOLD, METRICS_TOKEN, STALL_AFTER, DatabaseLock, get, healing_worker, queue_three
from tests.harness.mail import received_ids
from tests.harness.processes import looping, start_worker, stopped, worker_env
from tests.harness.sending import queue_many
from tests.harness.servers import running
from tests.harness.waiting import until

WEB_STALL_AFTER = 2.0  # the web process's stall window: a report older than this is red
NAME = "worker@test-host"


@pytest.fixture
async def web_url(database_url: str, org: Organisation) -> AsyncIterator[str]:
    """`invoicebot web`: the real web app, with no loop of its own."""
    settings = load_settings(
        DATABASE_URL=database_url,
        INVOICEBOT_SECRET_KEY="reports-test-secret",
        INVOICEBOT_HTTP_PORT=0,
        INVOICEBOT_METRICS_TOKEN=METRICS_TOKEN,
        INVOICEBOT_HEALTH_STALL_SECONDS=str(WEB_STALL_AFTER),
    )
    runtime = bootstrap(settings)
    server = web_server(runtime, host="127.0.0.1", port=0, log_level="warning")
    try:
        async with running(server) as url:
            yield url
    finally:
        await runtime.aclose()


async def reported_loops(web_url: str) -> dict[tuple[str, str], float]:
    """(process, loop) → invoicebot_process_loop_healthy, from a real scrape."""
    answer = await get(f"{web_url}/metrics", token=METRICS_TOKEN)
    return {
        (sample.labels["process"], sample.labels["loop"]): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == "invoicebot_process_loop_healthy"
    }


async def heartbeat_rows(sessions: async_sessionmaker[AsyncSession]) -> list[LoopHeartbeat]:
    async with sessions() as session:
        return list((await session.execute(select(LoopHeartbeat))).scalars())


async def test_a_separate_worker_that_dies_turns_the_web_healthz_red_and_a_clean_stop_withdraws_it(
    session, sessions, org, database_url, smtp, tmp_path, web_url
):
    env = worker_env(
        database_url,
        smtp,
        tmp_path,
        INVOICEBOT_PROCESS_NAME=NAME,
        INVOICEBOT_HEALTH_REPORT_SECONDS="0.2",
        INVOICEBOT_HEALTH_STALL_SECONDS=str(WEB_STALL_AFTER),
    )
    [message_id] = await queue_many(session, org, 1)
    worker = await start_worker(env, tmp_path)
    try:

        async def sent_and_reported_green() -> bool:
            loops = await reported_loops(web_url)
            beside = (loops.get((NAME, "audit sealer")), loops.get((NAME, "silent-email alerts")))
            return received_ids(smtp)[message_id] == 1 and loops.get((NAME, "worker")) == 1.0 and beside == (1.0, 1.0)

        await until(sent_and_reported_green, within=60, what="the worker's email sent and its loops reported green")
        assert (await get(f"{web_url}/healthz")).text == "ok"

        worker.send_signal(signal.SIGKILL)  # no goodbye: its last report just grows old
        await asyncio.wait_for(worker.wait(), timeout=10)

        async def red() -> bool:
            return (await get(f"{web_url}/healthz")).status_code == 503

        await until(red, within=WEB_STALL_AFTER + 10, what="/healthz red once the dead worker's report is old")
        answer = await get(f"{web_url}/healthz")
        assert answer.text.startswith(f"{NAME}: no report from its loops (")
        assert "worker" in answer.text and "stopped without withdrawing them, hangs" in answer.text
        assert (await reported_loops(web_url))[(NAME, "worker")] == 0.0

        worker = await start_worker(env, tmp_path)  # the same worker comes back

        async def green() -> bool:
            return (await get(f"{web_url}/healthz")).status_code == 200

        await until(green, within=60, what="/healthz green again once the worker reports")
        worker.send_signal(signal.SIGTERM)  # a clean stop withdraws the reports: it is not stalled
        assert await asyncio.wait_for(worker.wait(), timeout=30) == 0
    finally:
        await stopped(worker)  # whichever is current: a failed assertion never leaves one running

    assert await heartbeat_rows(sessions) == []
    assert (await get(f"{web_url}/healthz")).text == "ok"
    assert await reported_loops(web_url) == {}


async def test_a_separate_worker_stalled_by_a_locked_database_turns_the_web_healthz_red_with_the_reason(
    session, sessions, engine, database_url, org, smtp, web_url
):
    ids = await queue_three(session, org)
    transport = SmtpTransport(
        relay=SmtpRelay(host="127.0.0.1", port=smtp.port, security="none"), timeout=20.0, pool_size=2
    )
    health = LoopHealth(stall_after=STALL_AFTER)  # the worker process's own registry, not the web's
    worker = healing_worker(sessions, transport, health)
    reporter = HealthReporter(sessions=sessions, health=health, process=NAME, interval=0.1)
    # on leaving, even by a failed assertion: the worker stops, the lock goes, the reporter stops
    try:
        async with looping(reporter.run):

            async def reported() -> bool:
                return reporter.reported > 0

            await until(reported, within=5, what="the worker process's first report")
            async with DatabaseLock(database_url, engine) as lock, looping(worker.run):

                async def red() -> bool:
                    return (await get(f"{web_url}/healthz")).status_code == 503

                await until(red, within=HOLD + WEB_STALL_AFTER + 5, what="/healthz red while the worker cannot claim")
                answer = await get(f"{web_url}/healthz")
                if engine.dialect.name == "postgresql":  # only `deliveries` is locked: the report says why it stalls

                    async def says_why() -> bool:
                        # red may come first from a round still under way on a busy machine ("its round
                        # has not ended"); the reason follows once that round fails on the lock
                        return "canceling statement due to lock timeout" in (await get(f"{web_url}/healthz")).text

                    await until(says_why, within=HOLD + WEB_STALL_AFTER + 5, what="/healthz naming the lock timeout")
                    answer = await get(f"{web_url}/healthz")
                    assert answer.status_code == 503
                    assert answer.text.startswith(f"{NAME}: worker: no progress for ")
                    assert "canceling statement due to lock timeout" in answer.text
                else:  # SQLite: the whole database is locked, the report itself cannot be written
                    assert answer.text.startswith(f"{NAME}: ")
                    assert "worker: no progress for " in answer.text or "no report from its loops (" in answer.text
                assert smtp.received == []
                await lock.release()

                async def all_sent_and_green() -> bool:
                    return len(smtp.received) >= 3 and (await get(f"{web_url}/healthz")).status_code == 200

                await until(all_sent_and_green, within=30, what="every delivery sent and /healthz green again")
    finally:
        await transport.aclose()
    assert len(ids) == len(smtp.received) == 3
    assert await heartbeat_rows(sessions) == []
