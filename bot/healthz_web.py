"""`GET /healthz`: 200 "ok" while every loop makes progress, 503 with the reasons otherwise.

A load balancer or an operator's probe reads it; the body says in plain words which loop is
stuck, for how long, and why (e.g. "worker: no progress for 95 s while 3 deliveries are due:
database is locked"). It speaks for this process's loops and, through the reports they
write to the database (bot/loop_reports.py), for the loops of other processes — a separate
`invoicebot worker` that stalled, or stopped reporting (died, hangs). A process that runs no
loop, with no other process reporting, is healthy when it answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.loop_health import LoopHealth
from bot.loop_reports import OtherProcesses


def healthz_routes(health: LoopHealth, others: OtherProcesses | None = None) -> list[BaseRoute]:
    async def healthz(_request: Request) -> Response:
        problems = health.problems()
        if others is not None:
            problems += (await others.verdict()).problems
        if problems:
            return PlainTextResponse("\n".join(problems) + "\n", status_code=503)
        return PlainTextResponse("ok")

    return [Route("/healthz", healthz, methods=["GET"])]
