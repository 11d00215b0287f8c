"""`invoicebot workspaces`: every organisation (one per installed Slack workspace) and its sending.

A workspace that uninstalled the app or revoked its token has its sending paused (its emails
wait, its data is kept): this is where an operator sees which, why and how many emails wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import Runtime
from services.sending.pausing import workspaces_sending

console = Console()


def register(app: typer.Typer, run_over_all: Callable[[Callable[[Runtime], Awaitable[Any]]], Any]) -> None:
    @app.command("workspaces")
    def workspaces() -> None:
        """Each organisation's workspace, whether its sending is paused and how many emails wait."""

        async def work(runtime: Runtime) -> int:
            async with runtime.session() as session:
                rows = await workspaces_sending(session)
            table = Table(title=f"Organisations — {len(rows)}")
            for column in ("Workspace", "Organisation", "Sending", "Emails waiting"):
                table.add_column(column)
            for row in rows:
                sending = f"PAUSED: {row.paused}" if row.paused else "on"
                table.add_row(row.slack_team_id or "—", row.name, sending, str(row.waiting))
            console.print(table)
            return sum(1 for row in rows if row.paused)

        if run_over_all(work):
            raise typer.Exit(1)
