"""The audit log's hash chain: entries are sealed after they are written, one sealer at a time.

Writers (units of work, the worker's group commits, bulk inserts) write entries unsealed and pay
nothing for the chain: no extra round trip, no lock. `seal_audit_chain` then gives every
unsealed entry, in id order, the next place in its organisation's chain (`chain_index`), the
hash of the entry before it (`prev_hash`) and its own hash over its canonical content plus
that previous hash (`entry_hash`). Sealers exclude each other (PostgreSQL: a transaction
advisory lock; SQLite has one writer), so two processes never give two entries the same place;
an entry committed late, after higher ids were sealed, simply takes the next place.

`verify_audit_chain` walks each chain in order and names the first entry whose hash, link or
place does not match. What this guarantees (docs/audit.md): a sealed entry cannot be edited,
deleted or re-ordered without `verify` noticing, unless every later hash is rewritten too
(someone who can do that can rewrite anything; keep the printed head hash elsewhere to catch
it). Entries not yet sealed, and the removal of the newest entries, are not covered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]

GENESIS = "0" * 64  # the previous hash of an organisation's first entry
SEAL_BATCH = 2000
_LOCK_KEY = zlib.crc32(b"invoicebot.audit_chain") - 2**31
_TABLE = AuditLog.__table__
_SEAL = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(chain_index=bindparam("b_index"), prev_hash=bindparam("b_prev"), entry_hash=bindparam("b_hash"))
)


def _moment(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def canonical_entry(entry: AuditLog, *, chain_index: int) -> str:
    """The entry's content as hashed: every column but the hashes, as sorted compact JSON."""
    content: dict[str, Any] = {
        "id": entry.id,
        "organisation_id": entry.organisation_id,
        "chain_index": chain_index,
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "detail": entry.detail,
        "created_at": _moment(entry.created_at),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: AuditLog, *, chain_index: int, prev_hash: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical_entry(entry, chain_index=chain_index)}".encode()).hexdigest()


# SQLite: sealers of this process take turns without busy waits (one lock per event loop)
_IN_PROCESS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def _in_process() -> asyncio.Lock:
    return _IN_PROCESS.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def _lock(session: AsyncSession, *, wait: bool) -> bool:
    """Become the one sealer for this transaction; False if another one is at it (PostgreSQL, not waiting).

    On SQLite a write comes first, so the transaction holds the database's one write lock before
    it reads what to seal (a sealer in another process, `audit verify`, waits for it)."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        await session.execute(text("UPDATE audit_log SET chain_index = NULL WHERE 1 = 0"))
        return True
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}))


async def _tail(session: AsyncSession, organisation_id: int) -> tuple[int, str]:
    row = (
        await session.execute(
            select(AuditLog.chain_index, AuditLog.entry_hash)
            .where(AuditLog.organisation_id == organisation_id, AuditLog.chain_index.is_not(None))
            .order_by(AuditLog.chain_index.desc())
            .limit(1)
        )
    ).first()
    if row is None or row[0] is None:
        return 0, GENESIS
    return int(row[0]), str(row[1])


async def _seal_batch(session: AsyncSession, *, batch: int) -> int:
    unsealed = (
        await session.scalars(select(AuditLog).where(AuditLog.chain_index.is_(None)).order_by(AuditLog.id).limit(batch))
    ).all()
    tails: dict[int, tuple[int, str]] = {}
    seals: list[dict[str, Any]] = []
    for entry in unsealed:
        if entry.organisation_id not in tails:
            tails[entry.organisation_id] = await _tail(session, entry.organisation_id)
        index, prev = tails[entry.organisation_id]
        digest = entry_hash(entry, chain_index=index + 1, prev_hash=prev)
        seals.append({"b_id": entry.id, "b_index": index + 1, "b_prev": prev, "b_hash": digest})
        tails[entry.organisation_id] = (index + 1, digest)
    if seals:
        await session.execute(_SEAL, seals, execution_options={"synchronize_session": False})
    return len(seals)


async def seal_audit_chain(sessions: SessionFactory, *, wait: bool = False, batch: int = SEAL_BATCH) -> int:
    """Chain every unsealed entry (in batches, each its own transaction); how many were sealed.

    `wait=False` (the worker's loop) gives way when another process is sealing; `verify` waits.
    """
    sealed = 0
    while True:
        async with _in_process(), sessions() as session:
            if not await _lock(session, wait=wait):
                return sealed
            done = await _seal_batch(session, batch=batch)
            await session.commit()
        sealed += done
        if done < batch:
            return sealed


@dataclass(frozen=True)
class ChainBreak:
    """The first entry of a chain that does not match, and why, in words."""

    organisation_id: int
    entry_id: int
    chain_index: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: entries checked per organisation, each chain's head, the first break."""

    checked: dict[int, int]
    heads: dict[int, str]
    broken: ChainBreak | None


async def _sealed(session: AsyncSession, *, page: int) -> AsyncIterator[AuditLog]:
    last: tuple[int, int] = (-1, 0)
    while True:
        rows = (
            await session.scalars(
                select(AuditLog)
                .where(AuditLog.chain_index.is_not(None))
                .where(
                    (AuditLog.organisation_id > last[0])
                    | ((AuditLog.organisation_id == last[0]) & (AuditLog.chain_index > last[1]))
                )
                .order_by(AuditLog.organisation_id, AuditLog.chain_index)
                .limit(page)
            )
        ).all()
        for row in rows:
            yield row
        if len(rows) < page:
            return
        last = (rows[-1].organisation_id, int(rows[-1].chain_index or 0))
        session.expunge_all()


def _check(entry: AuditLog, *, expected_index: int, prev: str) -> str | None:
    if entry.chain_index != expected_index:
        return f"is at place {entry.chain_index} where place {expected_index} was expected (an entry was removed)"
    if entry.prev_hash != prev:
        return "does not follow the entry before it (an entry was removed or re-hashed)"
    if entry.entry_hash != entry_hash(entry, chain_index=expected_index, prev_hash=prev):
        return "does not match its hash (its content was changed)"
    return None


async def verify_audit_chain(sessions: SessionFactory, *, page: int = 1000) -> ChainReport:
    """Seal what is pending, then walk every organisation's chain from its first entry."""
    await seal_audit_chain(sessions, wait=True)
    checked: dict[int, int] = {}
    heads: dict[int, str] = {}
    async with sessions() as session:
        async for entry in _sealed(session, page=page):
            organisation = entry.organisation_id
            count = checked.get(organisation, 0)
            reason = _check(entry, expected_index=count + 1, prev=heads.get(organisation, GENESIS))
            if reason is not None:
                index = int(entry.chain_index or 0)
                return ChainReport(checked, heads, ChainBreak(organisation, entry.id, index, reason))
            checked[organisation] = count + 1
            heads[organisation] = str(entry.entry_hash)
    return ChainReport(checked, heads, None)
