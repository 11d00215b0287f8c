"""`invoicebot workspaces`: every organisation (one per installed Slack workspace) and its sending.

A workspace that uninstalled the app or revoked its token has its sending paused (its emails
wait, its data is kept): this is where an operator sees which, why and how many emails wait.
`invoicebot workspaces rotate-key` re-seals every stored Slack token with the newest key of
INVOICEBOT_TOKEN_KEY (docs/production.md, "Rotating the token key").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import Runtime
from bot.workspaces import TokenKeyMismatch
from services.db.token_resealing import reseal_tokens
from services.sending.pausing import workspaces_sending

console = Console()


async def _rotate(runtime: Runtime) -> tuple[int, int] | str:
    """(installations, tokens) re-sealed, or the sentence saying why nothing more could be."""
    if runtime.workspace_tokens is None:
        return "rotate-key needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and INVOICEBOT_TOKEN_KEY (many workspaces)"
    try:
        return await reseal_tokens(runtime.engine, runtime.workspace_tokens.store.sealer.reseal)
    except TokenKeyMismatch as mismatch:
        return str(mismatch)


def register(app: typer.Typer, run_over_all: Callable[[Callable[[Runtime], Awaitable[Any]]], Any]) -> None:
    group = typer.Typer(invoke_without_command=True, no_args_is_help=False)
    app.add_typer(group, name="workspaces")

    @group.command("rotate-key")
    def rotate_key() -> None:
        """Re-seal every stored Slack token with the first (newest) key of INVOICEBOT_TOKEN_KEY."""

        outcome = run_over_all(_rotate)
        if isinstance(outcome, str):
            typer.echo(outcome[:1].upper() + outcome[1:] + ".", err=True)
            raise typer.Exit(1)
        installations, tokens = outcome
        console.print(f"Re-sealed {tokens} tokens of {installations} installations with the newest key.")

    @group.callback()
    def workspaces(context: typer.Context) -> None:
        """Each organisation's workspace, whether its sending is paused and how many emails wait."""
        if context.invoked_subcommand is not None:
            return

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
