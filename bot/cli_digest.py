"""`invoicebot digest run [--as-of DATETIME]`: the daily digest's schedule evaluated once, now or at another moment.

What the worker's digest loop does every half minute (bot/digest_loop.py), once: each
organisation whose digest is due at that moment and not yet claimed owes its post (the
notifier posts it). `--as-of` takes an ISO date-time; without an offset it is UTC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import typer

from bot.bootstrap import Runtime
from bot.cli_moments import AS_OF_HELP, as_of_moment
from services.digest import DigestPosted, evaluate_digests
from services.unit_of_work import units_over

RunWithRuntime = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[[str, int], typer.Exit]


def posted_words(posted: list[DigestPosted], moment: datetime) -> list[str]:
    if not posted:
        return [f"no digest due at {moment.isoformat()} (off, not its hour yet, or already posted)"]
    return [
        f"organisation {done.organisation_id}: digest of {done.period} queued for Slack"
        + (" (late)" if done.late else "")
        + (" with the weekly summary" if done.weekly else "")
        for done in posted
    ]


def register(app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    digest_app = typer.Typer(help="The daily digest in the notify channel.", no_args_is_help=True)
    app.add_typer(digest_app, name="digest")

    @digest_app.command("run")
    def digest_run(
        as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    ) -> None:
        """Owe the digests due at this moment (now by default); each day's digest is posted once."""
        moment = as_of_moment(as_of, fail)

        async def work(runtime: Runtime) -> list[DigestPosted]:
            await runtime.organisation_id()  # the single install's organisation adopted (its settings seeded)
            return await evaluate_digests(units_over(runtime.sessions), now=moment)

        for line in posted_words(run_with_runtime(work), moment):
            typer.echo(line)
