"""`invoicebot health list|forget`: the loop reports other processes (separate workers) left in the database.

`/healthz` on the web process turns red when a worker's last report grows older than the
stall window (bot/loop_reports.py). A worker stopped cleanly withdraws its reports; one that
was killed and is not coming back (a host retired, a container replaced under another name)
leaves them behind, and an operator retires them here rather than in SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import Runtime
from services.db.models import utcnow
from services.loop_reports import read_reports, retire_process
from web.fleet_health import judge_reports

console = Console()


def register(app: typer.Typer, run_with_runtime: Callable[[Callable[[Runtime], Awaitable[Any]]], Any]) -> None:
    health_app = typer.Typer(help="The loop health other processes report (separate workers).", no_args_is_help=True)
    app.add_typer(health_app, name="health")

    @health_app.command("list")
    def health_list() -> None:
        """Each reported loop as /healthz judges it now, then the problems (exit 1 when there are any)."""

        async def work(runtime: Runtime) -> int:
            async with runtime.session() as session:
                reports = await read_reports(session)
            fleet = judge_reports(reports, now=utcnow(), stall_after=runtime.others.stall_after)
            table = Table(title=f"Loops reported by other processes — {len(fleet.loops)}")
            for column in ("Process", "Loop", "Healthy", "Report age (s)"):
                table.add_column(column)
            for loop in fleet.loops:
                table.add_row(loop.process, loop.loop, "yes" if loop.healthy else "NO", f"{loop.report_age:.0f}")
            console.print(table)
            for problem in fleet.problems:
                console.print(problem, soft_wrap=True)
            return 1 if fleet.problems else 0

        if run_with_runtime(work):
            raise typer.Exit(1)

    @health_app.command("forget")
    def health_forget(process: str) -> None:
        """Delete the reports of a process that is gone for good (e.g. worker@old-host)."""

        async def work(runtime: Runtime) -> int:
            return await retire_process(runtime.sessions, process)

        deleted = run_with_runtime(work)
        if not deleted:
            console.print(f"no reports from {process}", style="red")
            raise typer.Exit(1)
        console.print(f"forgot {deleted} loop report(s) of {process}")
