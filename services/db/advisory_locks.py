"""A named lock across processes, held for a block: PostgreSQL's transaction advisory lock.

For work that must happen once at a time across web and worker processes but writes nothing
itself (refreshing one Slack installation's token). On SQLite there is one writer and the
caller's in-process lock is enough, so the block runs without a database lock. `wait` is the
PostgreSQL `lock_timeout` (e.g. "10s"): a holder that never lets go fails the next asker
instead of hanging it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_WAIT = re.compile(r"^\d+(ms|s|min)?$")


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str, *, wait: str) -> AsyncIterator[None]:
    """Hold the lock called `name` (hashed to PostgreSQL's 32-bit key) for the block."""
    if engine.dialect.name != "postgresql":
        yield
        return
    if not _WAIT.match(wait):
        raise ValueError(f"not a PostgreSQL lock_timeout: {wait!r}")
    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{wait}'"))
        key = zlib.crc32(name.encode()) - 2**31
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield
