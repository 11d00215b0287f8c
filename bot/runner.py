"""Run the Slack app and the web app in this process (`invoicebot run` / `invoicebot web`).

HTTP mode (no `SLACK_APP_TOKEN`): Slack posts to `/slack/events` on the web app, served by
uvicorn. Socket Mode (`SLACK_APP_TOKEN` set): the app opens a WebSocket to Slack, so no
public URL is needed; the web app still serves the health check (and, later, webhooks and
the invoice pages). Background loops are passed in as coroutines and run beside the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.app import create_slack_app_from
from bot.container import Container
from bot.loop_health import LoopHealth
from bot.loop_reports import OtherProcesses
from bot.routes import web_routes
from bot.web import create_web_app

log = logging.getLogger("invoicebot.runner")


def web_server(
    container: Container,
    *,
    slack_app: AsyncApp | None,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    health: LoopHealth | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the web app (port 0 picks a free port; see `bound_port`).

    `health`: the loops running beside it, which `/healthz` and `/metrics` report on, with the
    loops other processes (a separate `invoicebot worker`) report through the database.
    """
    health = health or LoopHealth()
    others = OtherProcesses(container.sessions, stall_after=container.settings.health_stall_seconds)
    secret = container.settings.slack_signing_secret
    config = uvicorn.Config(
        create_web_app(
            slack_app=slack_app,
            slack_signing_secret=secret.get_secret_value() if secret else None,
            extra_routes=web_routes(container, health, others),
            health=health,
            others=others,
        ),
        host=host or container.settings.http_host,
        port=container.settings.http_port if port is None else port,
        log_level=log_level,
        lifespan="off",
        access_log=False,
        # X-Forwarded-For is believed only from INVOICEBOT_TRUSTED_PROXIES (rightmost untrusted
        # address); with none, never: uvicorn's own default would trust 127.0.0.1.
        proxy_headers=bool(container.settings.trusted_proxies),
        forwarded_allow_ips=list(container.settings.trusted_proxies) or None,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (the real one when it was asked for port 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the web server is not listening yet")


async def serve(
    container: Container,
    *,
    host: str | None = None,
    port: int | None = None,
    loops: Sequence[Coroutine[Any, Any, None]] = (),
    health: LoopHealth | None = None,
) -> None:
    """Serve until cancelled or until uvicorn is asked to stop (SIGINT/SIGTERM).

    `health`: the registry the `loops` report to, shown by `/healthz` and `/metrics`.
    """
    settings = container.settings
    slack_app = create_slack_app_from(container)
    socket_mode = settings.slack_app_token is not None
    server = web_server(container, slack_app=None if socket_mode else slack_app, host=host, port=port, health=health)
    socket_handler: AsyncSocketModeHandler | None = None
    if socket_mode and settings.slack_app_token is not None:
        socket_handler = AsyncSocketModeHandler(slack_app, settings.slack_app_token.get_secret_value())
        await socket_handler.connect_async()
        log.info("connected to Slack in Socket Mode")
    else:
        log.info("Slack requests are served at %s:%s/slack/events", server.config.host, server.config.port)
    background = [asyncio.create_task(loop) for loop in loops]
    try:
        await server.serve()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if socket_handler is not None:
            await socket_handler.close_async()
