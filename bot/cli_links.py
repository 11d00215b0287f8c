"""`invoicebot links revoke NUMBER`: withdraw every link to an invoice a customer was sent.

The CLI is run by whoever operates the installation, so it acts as the admin `cli`
(audited like a click in Slack). By default the invoice gets a new working link at once,
which the next email carries; `--no-new-link` leaves it without one until revoked again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from services.authorization import OPERATOR
from services.db.models import utcnow
from services.invoicing.invoices import InvoiceAct
from services.tracking.links import revoke_invoice_link
from services.unit_of_work import units_over

console = Console()


def register(app: typer.Typer, run_with_runtime: Callable[[Callable[[Runtime], Awaitable[Any]]], Any]) -> None:
    links_app = typer.Typer(help="The customers' invoice links (/i/…).", no_args_is_help=True)
    app.add_typer(links_app, name="links")

    @links_app.command("revoke")
    def links_revoke(
        number: Annotated[str, typer.Argument(help="the invoice number, e.g. INV-0042")],
        new_link: Annotated[bool, typer.Option(help="issue a new working link at once")] = True,
    ) -> None:
        """Make every link sent so far answer "withdrawn" (410); audited."""

        async def work(runtime: Runtime) -> None:
            act = InvoiceAct(
                organisation_id=await runtime.organisation_id(),
                number=number,
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
                at=utcnow(),
            )
            revoked = await revoke_invoice_link(units_over(runtime.sessions), act, reissue=new_link)
            after = "a new link goes with the next email" if new_link else "it has no working link now"
            console.print(f"the links sent for {revoked} are revoked; {after}", highlight=False)

        run_with_runtime(work)
