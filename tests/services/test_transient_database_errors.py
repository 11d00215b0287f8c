"""Which real database errors mean "not now" (retry the write) and which mean "never" (fail it).

Each error comes from a real database (the test's SQLite or PostgreSQL) or a real refused
connection: the driver decides how it is wrapped, and that is what `transient_database_error`
must read right. A full disk is in tests/integration/test_worker_heals*.py.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db.engine import create_engine
from services.db.rounds import transient_database_error


def _closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_constraint_violation_is_the_writes_own_fault(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(Exception) as raised:
            await connection.execute(text("INSERT INTO organisations (id) VALUES (NULL)"))
    assert not transient_database_error(raised.value)


async def test_an_unreachable_database_server_is_transient(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a SQLite file has no server to be unreachable")
    url = make_url(str(engine.url.render_as_string(hide_password=False))).set(port=_closed_port())
    unreachable = create_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(Exception) as raised:
            async with unreachable.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await unreachable.dispose()
    assert transient_database_error(raised.value), repr(raised.value)


async def test_a_lock_timeout_is_transient(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's 'database is locked' is tested by the worker's lock test")
    holder = await engine.connect()
    try:
        await holder.execute(text("LOCK TABLE organisations IN ACCESS EXCLUSIVE MODE"))
        async with engine.connect() as waiter:
            await waiter.execute(text("SET lock_timeout = 200"))
            with pytest.raises(Exception) as raised:
                await waiter.execute(text("SELECT count(*) FROM organisations"))
    finally:
        await holder.rollback()
        await holder.close()
    assert transient_database_error(raised.value), repr(raised.value)
