"""`invoicebot audit verify` and `invoicebot audit export`: the audit trail for auditors.

`verify` seals what is pending, walks every organisation's hash chain and names the first entry
that does not match (exit status 1); `export` writes the chosen organisation's entries since a
day as CSV or JSON, to a file or to standard output. How the chain works and what it
guarantees: docs/audit.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from services.audit_chain import ChainReport, verify_audit_chain
from services.audit_history import ExportFormat, audit_entries_since, render_export

console = Console()

Runner = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[..., typer.Exit]


def print_report(report: ChainReport, fail: Fail) -> None:
    """Each organisation's count and head hash (keep the head elsewhere to catch a rewritten tail)."""
    if report.broken is not None:
        broken = report.broken
        raise fail(
            f"audit entry {broken.entry_id} (organisation {broken.organisation_id}, "
            f"place {broken.chain_index}) {broken.reason}"
        )
    for organisation, count in sorted(report.checked.items()):
        head = report.heads[organisation]
        console.print(f"organisation {organisation}: {count} entries, chain intact, head {head}", highlight=False)
    if not report.checked:
        console.print("no audit entries yet")


def export_start(since: str, fail: Fail) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(since), time(0), tzinfo=UTC)
    except ValueError:
        raise fail(f"--since {since!r} is not a date like 2026-11-23", 2) from None


def write_export(written: str, *, count: int, output: Path | None, fail: Fail) -> None:
    if output is None:
        typer.echo(written, nl=False)
        return
    try:
        output.write_text(written, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc}") from None
    console.print(f"wrote {count} audit entries to {output}", highlight=False)


def register(app: typer.Typer, *, run_with_runtime: Runner, run_over_all: Runner, fail: Fail) -> None:
    audit_app = typer.Typer(help="The audit trail: verify its hash chain, export it.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def audit_verify() -> None:
        """Check that no sealed audit entry was changed, removed or re-ordered (exit status 1 if one was)."""

        async def work(runtime: Runtime) -> ChainReport:
            return await verify_audit_chain(runtime.sessions)

        print_report(run_over_all(work), fail)

    @audit_app.command("export")
    def audit_export(
        since: Annotated[str, typer.Option(help="the first day exported (UTC), like 2026-11-01")],
        fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
        output: Annotated[Path | None, typer.Option(help="the file to write (default: standard output)")] = None,
    ) -> None:
        """The organisation's audit entries since a day, oldest first, with their place and hash."""
        if fmt not in ("csv", "json"):
            raise fail(f"--format {fmt!r}: use csv or json", 2)
        start = export_start(since, fail)
        chosen: ExportFormat = "json" if fmt == "json" else "csv"

        async def work(runtime: Runtime) -> tuple[int, str]:
            organisation_id = await runtime.organisation_id()
            async with runtime.session() as session:
                entries = await audit_entries_since(session, organisation_id=organisation_id, since=start)
                return len(entries), render_export(entries, fmt=chosen)

        count, written = run_with_runtime(work)
        write_export(written, count=count, output=output, fail=fail)
