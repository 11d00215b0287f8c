"""The ASGI web app (Starlette): Slack's endpoint and a health check.

`POST /slack/events` is verified by our own door first (bot/slack_door.py: body limit,
signature, safe parsing) and then dispatched by Bolt on the server's event loop. Every
route sits behind `ErrorReferenceMiddleware` (web/doors.py): an unexpected error is a
`500 error ref …`, never a traceback. Provider webhooks, the invoice link page and
metrics (the `web/` package) come in as `extra_routes`, assembled by bot/bootstrap.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.loop_health import LoopHealth
from bot.slack_door import slack_events_endpoint
from web.doors import ErrorReferenceMiddleware
from web.fleet_health import OtherProcesses
from web.healthz import healthz_routes

SLACK_EVENTS_PATH = "/slack/events"


def install_routes(slack_app: AsyncApp) -> list[BaseRoute]:
    """`GET /slack/install` and `/slack/oauth_redirect`: Bolt's OAuth flow, when the app has one
    (multi-workspace, bot/workspaces.py). The flow checks its own state cookie and state row."""
    flow = slack_app.oauth_flow
    if flow is None:
        return []

    async def install(request: Request) -> Response:
        return to_starlette_response(await flow.handle_installation(to_async_bolt_request(request, b"")))

    async def redirect(request: Request) -> Response:
        return to_starlette_response(await flow.handle_callback(to_async_bolt_request(request, b"")))

    return [
        Route(flow.install_path, install, methods=["GET"]),
        Route(flow.redirect_uri_path, redirect, methods=["GET"]),
    ]


def create_web_app(
    *,
    slack_app: AsyncApp | None,
    slack_signing_secret: str | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    health: LoopHealth | None = None,
    others: OtherProcesses | None = None,
) -> Starlette:
    """The web app; without a Slack app (Socket Mode, or no tokens) only the other routes exist.

    With a Slack app, `slack_signing_secret` (the one the app was built with) is required:
    the door verifies every request with it before Bolt sees the request. `health`: the
    process's loops, for `/healthz` (none given: a process without loops); `others`: the loop
    reports of other processes (a separate `invoicebot worker`), for `/healthz` too.
    """
    routes: list[BaseRoute] = [*healthz_routes(health or LoopHealth(), others), *extra_routes]
    if slack_app is not None:
        if not slack_signing_secret:
            raise ValueError("the Slack endpoint needs the signing secret the Slack app was built with")
        endpoint = slack_events_endpoint(slack_app, signing_secret=slack_signing_secret)
        routes.append(Route(SLACK_EVENTS_PATH, endpoint, methods=["POST"]))
        routes.extend(install_routes(slack_app))
    return Starlette(routes=routes, middleware=[Middleware(ErrorReferenceMiddleware)])
