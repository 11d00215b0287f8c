"""`invoicebot autosend run [--as-of DATETIME]` and `invoicebot autosend customer REF on|off|default`.

`run` is what the worker's autosend loop does every minute (bot/autosend_loop.py), once, at now
or at another moment: inside the send window at that moment, each organisation's owed autosends
are asked for (queued, or their approval requested), and a running worker sends them. `--as-of`
takes an ISO date-time; without an offset it is UTC. `customer` sets one customer's choice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from bot.autosend_loop import Autosend, round_words
from bot.bootstrap import Runtime
from bot.cli_moments import AS_OF_HELP, as_of_moment
from bot.config import Settings, verp_secret
from services.authorization import OPERATOR
from services.errors import InvalidInput
from services.sending.autosend import AutosendRound, check_customer_choice, set_customer_autosend
from services.unit_of_work import units_over

RunWithRuntime = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[[str, int], typer.Exit]


def register(
    app: typer.Typer, run_with_runtime: RunWithRuntime, settings_or_exit: Callable[[], Settings], fail: Fail
) -> None:
    autosend_app = typer.Typer(
        help="Validated invoices sent on their issue date without a click.", no_args_is_help=True
    )
    app.add_typer(autosend_app, name="autosend")

    @autosend_app.command("run")
    def autosend_run(
        as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    ) -> None:
        """Ask for the autosends owed at this moment (now by default), inside the send window; each once."""
        moment = as_of_moment(as_of, fail)
        secret = verp_secret(settings_or_exit())  # the worker's key: the emails' VERP tokens must verify there

        async def work(runtime: Runtime) -> list[AutosendRound]:
            await runtime.organisation_id()  # the single install's organisation adopted (its settings seeded)
            autosend = Autosend(runtime.sessions, runtime.organisations, verp_secret=secret)
            return await autosend.evaluate(moment)

        rounds = run_with_runtime(work)
        if not rounds:
            typer.echo("autosend is off for every organisation and customer")
        for done in rounds:
            for line in round_words(done):
                typer.echo(line)

    @autosend_app.command("customer")
    def autosend_customer(
        ref: Annotated[str, typer.Argument(help="the customer's reference (as imported)")],
        choice: Annotated[str, typer.Argument(help="on, off, or default (the organisation's setting)")],
    ) -> None:
        """Turn autosend on or off for one customer, or back to the organisation's setting."""
        try:
            check_customer_choice(choice)
        except InvalidInput as exc:
            raise fail(str(exc), 2) from None

        async def work(runtime: Runtime) -> str:
            organisation_id = await runtime.organisation_id()
            return await set_customer_autosend(
                units_over(runtime.sessions), organisation_id=organisation_id, ref=ref, choice=choice, actor=OPERATOR
            )

        typer.echo(run_with_runtime(work))  # an unknown customer: one line, exit 1
