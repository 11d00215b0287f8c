"""A named lock across processes, held for a block: PostgreSQL's transaction advisory lock.

For work that must happen once at a time across web and worker processes but writes nothing
itself (refreshing one Slack installation's token). On SQLite there is one writer and the
caller's in-process lock is enough, so the block runs without a database lock. `wait_seconds`
bounds the wait (PostgreSQL's `lock_timeout`, services.db.rounds): a holder that never lets go
fails the next asker instead of hanging it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db.rounds import lock_wait_statement


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str, *, wait_seconds: float) -> AsyncIterator[None]:
    """Hold the lock called `name` (hashed to PostgreSQL's 32-bit key) for the block."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.begin() as conn:
        await conn.execute(lock_wait_statement(wait_seconds))
        key = zlib.crc32(name.encode()) - 2**31
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield
