"""Re-seal every stored Slack token with the newest key (`invoicebot workspaces rotate-key`).

The token columns of slack_sdk's installation tables hold ciphertext (bot/workspaces.py seals
them; no cryptography is done here). After a new key is put first in INVOICEBOT_TOKEN_KEY,
each installation's rows (its installation rows and its bot rows, keyed by enterprise and team)
are re-sealed in one transaction of their own: a failure half-way leaves every token readable
with the keys configured, and a second run finishes the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db.models import TOKEN_COLUMNS, slack_bots, slack_installations

TABLES = (slack_installations, slack_bots)


async def _workspaces(engine: AsyncEngine) -> list[tuple[str | None, str | None]]:
    """Each installation's (enterprise_id, team_id), once, over both tables."""
    found: set[tuple[str | None, str | None]] = set()
    async with engine.connect() as conn:
        for table in TABLES:
            rows = await conn.execute(select(table.c.enterprise_id, table.c.team_id).distinct())
            found.update((row.enterprise_id, row.team_id) for row in rows)
    return sorted(found, key=lambda key: (key[0] or "", key[1] or ""))


def _same(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


async def _reseal_one(
    engine: AsyncEngine, workspace: tuple[str | None, str | None], reseal: Callable[[str], str]
) -> int:
    """One installation's rows, re-sealed in one transaction; how many tokens were re-sealed."""
    enterprise_id, team_id = workspace
    count = 0
    async with engine.begin() as conn:
        for table in TABLES:
            count += await _reseal_rows(conn, table, enterprise_id=enterprise_id, team_id=team_id, reseal=reseal)
    return count


async def _reseal_rows(
    conn: Any, table: Table, *, enterprise_id: str | None, team_id: str | None, reseal: Callable[[str], str]
) -> int:
    columns = [table.c[name] for name in TOKEN_COLUMNS if name in table.c]
    where = (_same(table.c.enterprise_id, enterprise_id), _same(table.c.team_id, team_id))
    rows = (await conn.execute(select(table.c.id, *columns).where(*where).with_for_update())).mappings().all()
    count = 0
    for row in rows:
        values = {column.name: reseal(row[column.name]) for column in columns if row[column.name] is not None}
        if values:
            await conn.execute(update(table).where(table.c.id == row["id"]).values(**values))
            count += len(values)
    return count


async def reseal_tokens(engine: AsyncEngine, reseal: Callable[[str], str]) -> tuple[int, int]:
    """Every stored token through `reseal` (ciphertext in, ciphertext out), one transaction per
    installation: (installations re-sealed, tokens re-sealed). `reseal` raises to stop at a token
    no configured key opens; the installations before it stay re-sealed."""
    installations = tokens = 0
    for workspace in await _workspaces(engine):
        resealed = await _reseal_one(engine, workspace, reseal)
        installations += 1 if resealed else 0
        tokens += resealed
    return installations, tokens
