"""The ASGI web app (Starlette): Slack's endpoint and a health check.

`POST /slack/events` goes through Bolt's *async* Starlette adapter, so signature
checks and listeners run on the server's event loop without blocking it. Later issues
add provider webhooks and the invoice link page (`/i/<token>`) here.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.healthz_web import healthz_routes
from bot.loop_health import LoopHealth

SLACK_EVENTS_PATH = "/slack/events"


def create_web_app(
    *, slack_app: AsyncApp | None, extra_routes: Sequence[BaseRoute] = (), health: LoopHealth | None = None
) -> Starlette:
    """The web app; without a Slack app (Socket Mode, or no tokens) only the other routes exist.

    `health`: the process's loops, for `/healthz` (none given: a process without loops).
    """
    routes: list[BaseRoute] = [*healthz_routes(health or LoopHealth()), *extra_routes]
    if slack_app is not None:
        slack_handler = AsyncSlackRequestHandler(slack_app)

        async def slack_events(request: Request) -> Response:
            return await slack_handler.handle(request)

        routes.append(Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=routes)
