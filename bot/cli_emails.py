"""`invoicebot emails purge [--as-of WHEN]`: delete the emails as sent that are past the retention.

The retention is INVOICEBOT_SENT_EMAIL_RETENTION_DAYS (400 by default; 0 keeps them forever).
A blob (an attachment, a font embedded in the PDFs) goes only when no kept email uses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from bot.cli_moments import AS_OF_HELP, as_of_moment
from bot.config import Settings
from services.sending.sent_messages import purge_sent_messages

console = Console()

Runner = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[[str, int], typer.Exit]


def register(app: typer.Typer, *, run_over_all: Runner, settings_or_exit: Callable[[], Settings], fail: Fail) -> None:
    emails_app = typer.Typer(help="The emails as sent (kept for download).", no_args_is_help=True)
    app.add_typer(emails_app, name="emails")

    @emails_app.command("purge")
    def emails_purge(
        as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    ) -> None:
        """Delete the emails older than the retention, and the blobs no kept email uses."""
        retention = settings_or_exit().sent_email_retention_days
        when = as_of_moment(as_of, fail)

        async def work(runtime: Runtime) -> None:
            result = await purge_sent_messages(runtime.sessions, as_of=when, retention_days=retention)
            keep = "kept forever" if retention == 0 else f"kept {retention} days"
            console.print(
                f"emails as sent ({keep}): {result.messages} deleted, {result.blobs} unused blobs deleted, "
                f"{result.files} extra attachments no kept delivery carries deleted",
                highlight=False,
            )

        run_over_all(work)
