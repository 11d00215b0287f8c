"""The group-commit primitive's rules, tested once here for every user (the send writer, the event filer).

Real databases throughout (SQLite, or PostgreSQL with TEST_DATABASE_URL): the rounds insert
rows into a scratch table whose CHECK constraint refuses a negative value, so "one item's
data is bad" is a real IntegrityError, and "the database cannot write now" is another
connection really holding the lock past the lock timeout. Every check reads the rows back
on a fresh connection — what anyone else would see.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.db.group_commit import GroupCommit
from services.db.group_rounds import ConnectionRounds, RoundTarget, SessionRounds
from services.db.rounds import transient_database_error

LOCK_TIMEOUT = 0.3  # seconds a round waits for the test's lock
WITHIN = 20.0  # seconds any await here may take at most, on a busy machine

Item = tuple[str, int]  # (key, value): a negative value is refused by the table's CHECK


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS group_commit_items"))
        await conn.execute(
            text("CREATE TABLE group_commit_items (key VARCHAR(40) PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0))")
        )
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE group_commit_items"))


def write_rows(connection: Connection, items: Sequence[Item]) -> list[int]:
    """One round on a sync connection: each item a row; its answer, the round's size."""
    for key, n in items:
        connection.execute(text("INSERT INTO group_commit_items (key, n) VALUES (:key, :n)"), {"key": key, "n": n})
    return [len(items)] * len(items)


async def write_rows_in_session(session: AsyncSession, items: Sequence[Item]) -> list[int]:
    for key, n in items:
        await session.execute(text("INSERT INTO group_commit_items (key, n) VALUES (:key, :n)"), {"key": key, "n": n})
    return [len(items)] * len(items)


def connection_commits(engine: AsyncEngine, **options: Any) -> GroupCommit[Item, int]:
    rounds: ConnectionRounds[Item, int] = ConnectionRounds(engine, write_rows, lock_timeout=LOCK_TIMEOUT)
    return GroupCommit(rounds, **{"max_round": 100, **options})


async def stored(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT key, n FROM group_commit_items"))).all()
    return {key: n for key, n in rows}


async def test_concurrent_items_share_rounds_of_at_most_max_round_and_each_gets_its_own_answer(
    engine: AsyncEngine, table: None
) -> None:
    commits = connection_commits(engine, max_round=4)
    try:
        sizes = await asyncio.wait_for(asyncio.gather(*(commits.submit((f"k{n}", n)) for n in range(10))), WITHIN)
    finally:
        await commits.aclose()

    assert await stored(engine) == {f"k{n}": n for n in range(10)}
    assert sizes == [4] * 8 + [2] * 2  # queued together: rounds of 4, 4 and 2
    assert commits.rounds == 3


async def test_a_bigger_item_goes_alone_and_sizes_count_against_max_round(engine: AsyncEngine, table: None) -> None:
    commits = connection_commits(engine, max_round=5, size=lambda item: item[1])
    try:
        sizes = await asyncio.wait_for(
            asyncio.gather(commits.submit(("first", 1)), commits.submit(("big", 9)), commits.submit(("small", 2))),
            WITHIN,
        )
    finally:
        await commits.aclose()
    assert list(sizes) == [1, 1, 1] and commits.rounds == 3  # 9 > 5 alone; 2 would not fit after it


async def test_lingering_items_wait_for_company_and_go_once_linger_batch_are_queued(
    engine: AsyncEngine, table: None
) -> None:
    commits = connection_commits(engine, linger=60.0, linger_batch=3)
    try:
        early = [asyncio.create_task(commits.submit((f"l{n}", n), linger=True)) for n in range(2)]
        urgent = await asyncio.wait_for(commits.submit(("now", 0)), WITHIN)  # does not take unripe company
        assert urgent == 1 and await stored(engine) == {"now": 0}
        assert not any(task.done() for task in early)
        last = await asyncio.wait_for(commits.submit(("l2", 2), linger=True), WITHIN)
        sizes = [await asyncio.wait_for(task, WITHIN) for task in early]
    finally:
        await commits.aclose()
    assert sizes == [3, 3] and last == 3  # the three in one round
    assert await stored(engine) == {"now": 0, "l0": 0, "l1": 1, "l2": 2}


async def test_a_lingering_item_goes_alone_after_linger_seconds(engine: AsyncEngine, table: None) -> None:
    commits = connection_commits(engine, linger=0.2, linger_batch=16)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        size = await asyncio.wait_for(commits.submit(("alone", 1), linger=True), WITHIN)
    finally:
        await commits.aclose()
    assert size == 1 and loop.time() - started >= 0.2
    assert await stored(engine) == {"alone": 1}


@pytest.mark.parametrize("target", ["connection", "session"])
async def test_an_item_that_fails_alone_gets_its_error_and_the_others_of_its_round_commit(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], table: None, target: str
) -> None:
    rounds: RoundTarget[Item, int] = (
        ConnectionRounds(engine, write_rows, lock_timeout=LOCK_TIMEOUT)
        if target == "connection"
        else SessionRounds(sessions, write_rows_in_session, lock_timeout=LOCK_TIMEOUT)
    )
    commits: GroupCommit[Item, int] = GroupCommit(rounds, max_round=100)
    items = [("first", 0), *((f"k{n}", -1 if n == 4 else n) for n in range(8))]
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(commits.submit(item) for item in items), return_exceptions=True), WITHIN
        )
        again = await asyncio.wait_for(commits.submit(("after", 1)), WITHIN)  # the connection survived
    finally:
        await commits.aclose()

    assert isinstance(answers[5], IntegrityError) and not transient_database_error(answers[5])
    assert all(isinstance(answer, int) for n, answer in enumerate(answers) if n != 5)
    assert again == 1
    assert await stored(engine) == {"first": 0, "after": 1, **{f"k{n}": n for n in range(8) if n != 4}}
    # halved, not retried one by one: 9 → 4 ✓ + 5 → 2 + 3 ✓ → 1 ✓ + 1 ✗, then "after"
    assert commits.rounds == 1 + 2 + 2 + 2 + 1


class Lock:
    """Another connection holding the write lock: SQLite `BEGIN EXCLUSIVE`, PostgreSQL `LOCK TABLE`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite: sqlite3.Connection | None = None
        self._pg: AsyncConnection | None = None

    async def __aenter__(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._sqlite = sqlite3.connect(str(self.engine.url.database), isolation_level=None)
            self._sqlite.execute("BEGIN EXCLUSIVE")
        else:
            self._pg = await self.engine.connect()
            await self._pg.execute(text("LOCK TABLE group_commit_items IN ACCESS EXCLUSIVE MODE"))

    async def __aexit__(self, *_: object) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.rollback()
            await self._pg.close()


async def test_a_round_that_fails_for_everyone_answers_every_item_with_the_error_after_one_probe(
    engine: AsyncEngine, table: None
) -> None:
    commits = connection_commits(engine)
    try:
        await asyncio.wait_for(commits.submit(("before", 0)), WITHIN)  # the connection is open
        async with Lock(engine):
            first = asyncio.create_task(commits.submit(("held", 0)))  # its round waits for the lock ...
            await asyncio.sleep(0.05)
            others = [asyncio.create_task(commits.submit((f"k{n}", n))) for n in range(6)]  # ... they queue
            answers = await asyncio.wait_for(asyncio.gather(first, *others, return_exceptions=True), WITHIN)
        rounds_while_locked = commits.rounds - 1
        after = await asyncio.wait_for(commits.submit(("after", 0)), WITHIN)
    finally:
        await commits.aclose()

    assert all(isinstance(a, DBAPIError) and transient_database_error(a) for a in answers)  # "locked", "lock timeout"
    assert rounds_while_locked == 1 + 2  # the first alone; the six together, then one probe, not six
    assert after == 1 and await stored(engine) == {"before": 0, "after": 0}


class RefusesOutcomes:
    """The real rounds, except that a round holding an outcome fails as a nearly full disk
    refuses it (SQLite's own error: "cannot write now"), while a round of marks alone commits."""

    def __init__(self, real: ConnectionRounds[Item, int]) -> None:
        self.real = real

    async def commit(self, items: Sequence[Item]) -> Sequence[int]:
        if any(key.startswith("outcome") for key, _ in items):
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
        return await self.real.commit(items)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_an_item_sharing_a_round_the_database_refuses_for_others_commits_after_one_probe(
    engine: AsyncEngine, table: None
) -> None:
    commits: GroupCommit[Item, int] = GroupCommit(
        RefusesOutcomes(ConnectionRounds(engine, write_rows, lock_timeout=LOCK_TIMEOUT)), max_round=100
    )
    items = [("mark", 0), ("outcome1", 1), ("outcome2", 2), ("outcome3", 3)]
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(commits.submit(item) for item in items), return_exceptions=True), WITHIN
        )
    finally:
        await commits.aclose()
    # the mark (first of the round) is not deferred with the outcomes; they are refused together, at once
    assert answers[0] == 1
    assert all(isinstance(a, OperationalError) and transient_database_error(a) for a in answers[1:])
    assert await stored(engine) == {"mark": 0}
    assert commits.rounds == 4  # all; the mark alone; the outcomes; one of them alone — then no more


async def test_a_caller_that_stops_waiting_before_its_round_writes_nothing(engine: AsyncEngine, table: None) -> None:
    commits = connection_commits(engine, linger=0.3, linger_batch=16)
    try:
        gone = asyncio.create_task(commits.submit(("gone", 1), linger=True))
        kept = asyncio.create_task(commits.submit(("kept", 2), linger=True))
        await asyncio.sleep(0.05)
        gone.cancel()
        assert await asyncio.wait_for(kept, WITHIN) == 1  # its round held only the item still awaited
    finally:
        await commits.aclose()
    assert gone.cancelled() and await stored(engine) == {"kept": 2}


async def test_close_commits_the_items_still_queued_and_the_next_item_opens_again(
    engine: AsyncEngine, table: None
) -> None:
    commits = connection_commits(engine, linger=0.2, linger_batch=16)
    queued = [asyncio.create_task(commits.submit((f"q{n}", n), linger=True)) for n in range(3)]
    await asyncio.sleep(0)
    await asyncio.wait_for(commits.aclose(), WITHIN)

    assert all(task.done() for task in queued) and [task.result() for task in queued] == [3, 3, 3]
    assert await stored(engine) == {"q0": 0, "q1": 1, "q2": 2}
    try:
        assert await asyncio.wait_for(commits.submit(("reopened", 0)), WITHIN) == 1
    finally:
        await commits.aclose()
