"""`GET /healthz`: 200 "ok" while every loop makes progress, 503 with the reasons otherwise.

A load balancer or an operator's probe reads it; the body says in plain words which loop is
stuck, for how long, and why (e.g. "worker: no progress for 95 s while 3 deliveries are due:
database is locked"). It speaks for this process's loops and, through the reports they
write to the database (web/fleet_health.py), for the loops of other processes — a separate
`invoicebot worker` that stalled, or stopped reporting (died, hangs). A process that runs no
loop, with no other process reporting, is healthy when it answers.

The loops live in bot/ (bot/loop_health.py keeps their verdicts); this surface only reads them
through `LoopReports`, so the web package never imports the process that runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from web.fleet_health import OtherProcesses


class LoopReport(Protocol):
    """One loop's verdict, as /healthz and /metrics show it."""

    @property
    def name(self) -> str: ...

    @property
    def healthy(self) -> bool: ...

    @property
    def seconds_since_progress(self) -> float: ...


class LoopReports(Protocol):
    """The verdicts of this process's loops (bot.loop_health.LoopHealth)."""

    def verdicts(self) -> Sequence[LoopReport]: ...

    def problems(self) -> list[str]: ...


def healthz_routes(health: LoopReports, others: OtherProcesses | None = None) -> list[BaseRoute]:
    async def healthz(_request: Request) -> Response:
        problems = health.problems()
        if others is not None:
            problems += (await others.verdict()).problems
        if problems:
            return PlainTextResponse("\n".join(problems) + "\n", status_code=503)
        return PlainTextResponse("ok")

    return [Route("/healthz", healthz, methods=["GET"])]
