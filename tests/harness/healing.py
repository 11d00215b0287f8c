"""The healing tests' parts: a worker that gives up on a lock fast, the web app that judges it, a held lock.

The SQLite half (tests/integration/test_worker_heals.py), the PostgreSQL half
(test_worker_heals_pg.py) and the separate worker's reports (test_worker_health_reports.py)
share these thresholds, so "red within HOLD" means the same everywhere. Thresholds are
small: each test takes seconds. The `served` fixture is registered by `tests/conftest.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.loop_health import LoopHealth
from bot.runner import web_server
from bot.worker import Worker
from services.db.models import Organisation
from services.sending.queue import RetryPolicy
from tests.harness.sending import make_worker, queue_delivery
from tests.harness.servers import running

METRICS_TOKEN = "heal-test-metrics-token"
STALL_AFTER = 1.0  # seconds without progress before /healthz turns red
LOCK_TIMEOUT = 0.3  # seconds the worker's writes wait for a lock
HOLD = LOCK_TIMEOUT * 4 + STALL_AFTER * 2  # the lock is held well past both

# A generous timeout: on a busy machine a 2 s read timeout made one send "transient" (deferred for
# its 60 s backoff), which is not what these tests are about. A module says `pytestmark = SMTP_CLIENT`.
SMTP_CLIENT = pytest.mark.smtp_client(timeout=20.0, pool_size=2)


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
        INVOICEBOT_HEALTH_STALL_SECONDS=str(STALL_AFTER),
    )
    runtime = bootstrap(settings)
    health = runtime.health
    server = web_server(runtime, host="127.0.0.1", port=0, log_level="warning")
    try:
        async with running(server) as url:
            yield Served(url, health)
    finally:
        await runtime.aclose()


def healing_worker(
    sessions: async_sessionmaker[AsyncSession], transport: Any, health: LoopHealth, **kwargs: Any
) -> Worker:
    """The real worker reporting to `health`, waiting at most LOCK_TIMEOUT for a lock and retrying soon."""
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


async def get(url: str, *, token: str | None = None) -> httpx.Response:
    """GET `url` as a probe or a scraper does (a bearer token for /metrics)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url, headers=headers)


class DatabaseLock:
    """Another connection holding the write lock: SQLite `BEGIN EXCLUSIVE`, PostgreSQL `LOCK TABLE table`.

    `async with DatabaseLock(…) as lock:` takes it and releases it on leaving, even when an
    assertion fails; `await lock.release()` inside the block lets go earlier (releasing twice is
    a no-op).
    """

    def __init__(self, database_url: str, engine: AsyncEngine, *, table: str = "deliveries") -> None:
        self.database_url = database_url
        self.engine = engine
        self.table = table
        self._sqlite: sqlite3.Connection | None = None
        self._pg: AsyncConnection | None = None

    async def __aenter__(self) -> DatabaseLock:
        await self.take()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.release()

    async def take(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._sqlite = sqlite3.connect(self.database_url.removeprefix("sqlite:///"), isolation_level=None)
            self._sqlite.execute("BEGIN EXCLUSIVE")
        else:
            self._pg = await self.engine.connect()
            await self._pg.execute(text(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE"))

    async def release(self) -> None:
        sqlite, self._sqlite = self._sqlite, None
        pg, self._pg = self._pg, None
        if sqlite is not None:
            sqlite.execute("ROLLBACK")
            sqlite.close()
        if pg is not None:
            await pg.rollback()
            await pg.close()


async def queue_three(session: AsyncSession, org: Organisation) -> list[int]:
    """Three queued deliveries (INV-0001 … INV-0003); their ids."""
    return [(await queue_delivery(session, org, number=f"INV-{n:04d}")).id for n in (1, 2, 3)]
