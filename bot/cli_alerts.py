"""`invoicebot alerts silent --as-of DATETIME`: owe the silent-email alerts due at that moment.

The same evaluation the worker's loop runs every few seconds (bot/silent_alerts.py), for another
moment: an operator catching up, a test moving time forward. Each delivery is alerted once, whoever
evaluates; the Slack posts go out through the notifier like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from bot.cli_moments import AS_OF_HELP, as_of_moment
from bot.config import Settings
from bot.silent_alerts import silent_route
from services.tracking.silent import SilentAlert, SilentCheck, owe_silent_alerts

console = Console()

Runner = Callable[[Callable[[Runtime], Awaitable[Any]], Settings], Any]
Fail = Callable[..., typer.Exit]


SettingsReader = Callable[[], Settings]


def register(app: typer.Typer, *, run_with_runtime: Runner, settings_or_exit: SettingsReader, fail: Fail) -> None:
    alerts_app = typer.Typer(help="Alerts the worker raises by itself, evaluated on demand.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("silent")
    def alerts_silent(
        as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    ) -> None:
        """Alert, in its thread, each accepted email with no news past the organisation's hours."""
        moment = as_of_moment(as_of, fail)
        settings = settings_or_exit()
        where = silent_route(settings)

        async def work(runtime: Runtime) -> list[SilentAlert]:
            check = SilentCheck(as_of=moment, route=where.route, relay=where.relay, limit=10_000)
            return await owe_silent_alerts(runtime.sessions, check)

        owed = run_with_runtime(work, settings)
        ids = ", ".join(str(alert.delivery_id) for alert in owed)
        console.print(
            f"{len(owed)} silent-email alert(s) owed as of {moment.isoformat()} ({where.route.value} route)"
            + (f": sends {ids}" if ids else ""),
            highlight=False,
        )
