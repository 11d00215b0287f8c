"""`invoicebot alerts silent --as-of DATETIME`: owe the silent-email alerts due at that moment.

The same evaluation the worker's loop runs every few seconds (bot/silent_alerts.py), for another
moment: an operator catching up, a test moving time forward. Each delivery is alerted once, whoever
evaluates; the Slack posts go out through the notifier like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from bot.config import Settings
from bot.silent_alerts import silent_route
from services.tracking.silent import SilentAlert, SilentCheck, owe_silent_alerts

console = Console()

Runner = Callable[[Callable[[Runtime], Awaitable[Any]], Settings], Any]
Fail = Callable[..., typer.Exit]


def parse_moment(value: str | None, fail: Fail) -> datetime:
    """An ISO date and time (UTC when it names no offset); now when absent."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of {value!r} is not a date and time like 2026-12-04T09:30 (UTC) or …+01:00", 2) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


SettingsReader = Callable[[], Settings]


def register(app: typer.Typer, *, run_with_runtime: Runner, settings_or_exit: SettingsReader, fail: Fail) -> None:
    alerts_app = typer.Typer(help="Alerts the worker raises by itself, evaluated on demand.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("silent")
    def alerts_silent(
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="the moment to evaluate, like 2026-12-04T09:30 (UTC); default now")
        ] = None,
    ) -> None:
        """Alert, in its thread, each accepted email with no news past the organisation's hours."""
        moment = parse_moment(as_of, fail)
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
