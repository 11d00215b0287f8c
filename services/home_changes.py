"""Which organisations' App Homes are owed a republish because a state change committed.

Every use case that changes state writes its audit entries through services/unit_of_work.py
(`write_owed`, or `insert_owed_audits` on the send worker's group commit): those two writers
also call `note_home_changes` / `insert_home_changes` here, so the marker commits — or rolls
back — with the change itself, whichever process made it (web, worker, or a CLI that runs no
refresher). A refresher (bot/home_refresh.py) calls `take_home_changes` every few seconds.

The marker is one inserted row per change, never an updated counter: concurrent writers of one
organisation then never wait on each other's row lock, and a row only becomes visible when its
transaction commits, so nothing committed late is skipped. The reader deletes exactly the rows it
read; two refreshers reading the same rows at once both republish (harmless, rate-limited).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import HomeChange, HomeViewer, OrganisationSettingsRow

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
TAKEN_AT_ONCE = 5000  # rows read per call; more wait for the next call (a bounded read)


def note_home_changes(session: AsyncSession, organisation_ids: Iterable[int]) -> None:
    """Owe these organisations' Homes a republish, in `session`'s transaction (flushed with it)."""
    for organisation_id in sorted(set(organisation_ids)):
        session.add(HomeChange(organisation_id=organisation_id))


def insert_home_changes(connection: Connection, organisation_ids: Iterable[int], *, at: datetime) -> None:
    """`note_home_changes` on a sync Core connection (the send worker's group commit). The caller commits."""
    rows = [{"organisation_id": organisation_id, "changed_at": at} for organisation_id in sorted(set(organisation_ids))]
    if rows:
        connection.execute(insert(HomeChange.__table__), rows)


async def take_home_changes(sessions: Sessions) -> set[int]:
    """The organisations changed since the last call (any process's), their rows deleted; commits.

    A read first, so the usual empty answer takes no write lock (SQLite has one writer)."""
    async with sessions() as session:
        rows = (await session.execute(select(HomeChange.id, HomeChange.organisation_id).limit(TAKEN_AT_ONCE))).all()
        if not rows:
            return set()
        await session.execute(delete(HomeChange).where(HomeChange.id.in_([row_id for row_id, _ in rows])))
        await session.commit()
    return {organisation_id for _, organisation_id in rows}


async def viewed_organisation_zones(sessions: Sessions, *, now: datetime, window: timedelta) -> dict[int, str]:
    """Each organisation with a Home opened within `window` before `now`, and its time zone name."""
    async with sessions() as session:
        rows = await session.execute(
            select(HomeViewer.organisation_id, OrganisationSettingsRow.time_zone)
            .outerjoin(OrganisationSettingsRow, OrganisationSettingsRow.organisation_id == HomeViewer.organisation_id)
            .where(HomeViewer.opened_at >= now - window)
            .distinct()
        )
        return {organisation_id: zone or "UTC" for organisation_id, zone in rows}
