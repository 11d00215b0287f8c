"""The audit log's hash chain: sealed after the fact, in order, by one sealer at a time; edits are found."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.audit_sealer import run_audit_sealer
from bot.loop_health import LoopHealth
from services.audit_chain import GENESIS, seal_audit_chain, verify_audit_chain
from services.db.models import AuditLog, Organisation, utcnow
from services.unit_of_work import AuditEntry, write_owed


def _rows(org_id: int, count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Entries as the worker's group commit writes them: one bulk INSERT, no chain columns."""
    return [
        {
            "organisation_id": org_id,
            "actor": "worker:w1",
            "action": "delivery.accepted",
            "subject_type": "delivery",
            "subject_id": start + i,
            "detail": {"detail": f"250 ok {start + i}", "naïve": "ü"},
            "created_at": utcnow(),
        }
        for i in range(count)
    ]


async def _second_org(session: AsyncSession) -> int:
    other = Organisation(name="Other Ltd", slack_team_id="T0OTHER")
    session.add(other)
    await session.commit()
    return other.id


async def test_bulk_written_entries_are_chained_per_organisation_in_id_order(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    other = await _second_org(session)
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 3) + _rows(other, 2) + _rows(org_id, 2, start=3))
    await session.commit()

    assert await seal_audit_chain(sessions) == 7
    assert await seal_audit_chain(sessions) == 0  # nothing left: sealing twice changes nothing

    session.expire_all()
    entries = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    mine = [e for e in entries if e.organisation_id == org_id]
    theirs = [e for e in entries if e.organisation_id == other]
    assert [e.chain_index for e in mine] == [1, 2, 3, 4, 5]
    assert [e.chain_index for e in theirs] == [1, 2]
    assert mine[0].prev_hash == GENESIS and theirs[0].prev_hash == GENESIS
    assert [e.prev_hash for e in mine[1:]] == [e.entry_hash for e in mine[:-1]]
    report = await verify_audit_chain(sessions)
    assert (report.checked, report.broken) == ({org_id: 5, other: 2}, None)
    assert report.heads[org_id] == mine[-1].entry_hash


async def test_an_entry_written_by_a_unit_of_work_after_a_seal_takes_the_next_place(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 2))
    await session.commit()
    await seal_audit_chain(sessions)
    entry = AuditEntry(
        organisation_id=org_id,
        actor="U0ALICE",
        action="invoice.validated",
        subject_type="invoice",
        subject_id=7,
        detail={"number": "INV-7"},
    )
    await write_owed(session, audits=[entry])
    await session.commit()

    await seal_audit_chain(sessions)

    last = await session.scalar(select(AuditLog).where(AuditLog.action == "invoice.validated"))
    assert last is not None and last.chain_index == 3
    assert (await verify_audit_chain(sessions)).broken is None


async def test_an_entry_edited_with_sql_is_named_by_verify(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 5))
    await session.commit()
    await seal_audit_chain(sessions)
    third = await session.scalar(select(AuditLog.id).where(AuditLog.chain_index == 3))

    await session.execute(text("UPDATE audit_log SET actor = 'U0MALLORY' WHERE id = :id"), {"id": third})
    await session.commit()
    report = await verify_audit_chain(sessions)

    assert report.broken is not None
    assert (report.broken.entry_id, report.broken.chain_index) == (third, 3)
    assert "content was changed" in report.broken.reason
    assert report.checked == {org_id: 2}  # the two before it were checked and are fine


async def test_a_deleted_entry_is_found_at_the_entry_after_it(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 4))
    await session.commit()
    await seal_audit_chain(sessions)
    second, third = (await session.scalars(select(AuditLog.id).where(AuditLog.chain_index.in_((2, 3))))).all()

    await session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": second})
    await session.commit()
    report = await verify_audit_chain(sessions)

    assert report.broken is not None and report.broken.entry_id == third
    assert "removed" in report.broken.reason


async def test_concurrent_sealers_and_writers_keep_one_unbroken_chain(
    sessions: async_sessionmaker[AsyncSession], org: Organisation
) -> None:
    """Writers commit while several sealers run at once (processes on PostgreSQL): no place is given
    twice, none is skipped, every entry is sealed once the last sealer is done."""
    org_id = org.id

    async def write(batch: int) -> None:
        for round_ in range(5):
            async with sessions() as session:
                await session.execute(insert(AuditLog.__table__), _rows(org_id, 20, start=batch * 1000 + round_ * 20))
                await session.commit()
            await asyncio.sleep(0)

    async def seal() -> None:
        for _ in range(5):
            await seal_audit_chain(sessions)
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(*(write(b) for b in range(3)), *(seal() for _ in range(3))), timeout=60)
    report = await verify_audit_chain(sessions)

    async with sessions() as session:
        unsealed = await session.scalar(select(func.count()).where(AuditLog.chain_index.is_(None)))
    assert (report.checked, report.broken, unsealed) == ({org_id: 300}, None, 0)


async def test_sealing_a_thousand_entries_takes_a_handful_of_statements_not_one_per_entry(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 1000))
    await session.commit()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await seal_audit_chain(sessions) == 1000
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)

    # select the unsealed, the organisation's tail, one UPDATE executemany (PostgreSQL batches it:
    # insertmanyvalues / execute_many pages), plus the lock; never a statement per entry
    assert len(statements) < 20, statements


async def test_the_worker_processes_sealing_loop_seals_what_was_written_and_stops_when_told(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
) -> None:
    org_id = org.id
    await session.execute(insert(AuditLog.__table__), _rows(org_id, 3))
    await session.commit()
    stop = asyncio.Event()

    loop = asyncio.create_task(run_audit_sealer(sessions, stop, LoopHealth().loop("audit sealer"), every=0.05))
    async with asyncio.timeout(10):
        while (await verify_sealed_count(sessions)) < 3:
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)

    assert loop.done() and (await verify_audit_chain(sessions)).checked == {org_id: 3}


async def verify_sealed_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(AuditLog.chain_index.is_not(None))) or 0)
