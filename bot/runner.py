"""Run the Slack app and the web app in this process (`invoicebot run` / `invoicebot web`).

HTTP mode (no `SLACK_APP_TOKEN`): Slack posts to `/slack/events` on the web app, served by
uvicorn. Socket Mode (`SLACK_APP_TOKEN` set): the app opens a WebSocket to Slack, so no
public URL is needed for Slack's requests; the web app still serves the health check, webhooks,
the invoice pages and, with many workspaces (OAuth), `/slack/install` and `/slack/oauth_redirect`:
one WebSocket then carries every installed workspace's envelopes, each authorised with its own
token by Bolt. The runtime's loops (bot/bootstrap.py) run beside the server.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app import SlackNotConfigured
from bot.bootstrap import Runtime

log = logging.getLogger("invoicebot.runner")

SLACK_NOT_CONFIGURED = "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (see README, 'Slack set-up') to run the Slack app"


def web_server(
    runtime: Runtime, *, host: str | None = None, port: int | None = None, log_level: str = "info"
) -> uvicorn.Server:
    """A uvicorn server for the runtime's web app (port 0 picks a free port; see `bound_port`)."""
    http = runtime.http
    config = uvicorn.Config(
        runtime.web_app,
        host=host or http.host,
        port=http.port if port is None else port,
        log_level=log_level,
        lifespan="off",
        access_log=False,
        log_config=None,  # uvicorn's lines go through our logging setup: `time LEVEL logger: message`
        # X-Forwarded-For is believed only from INVOICEBOT_TRUSTED_PROXIES (rightmost untrusted
        # address); with none, never: uvicorn's own default would trust 127.0.0.1.
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies) or None,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (the real one when it was asked for port 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the web server is not listening yet")


async def connect_socket_mode(runtime: Runtime) -> AsyncSocketModeHandler | None:
    """In Socket Mode (an app token is set), open the WebSocket to Slack; the caller closes it
    (`close_async`). The client re-opens the connection itself when Slack drops or refreshes it."""
    if runtime.slack_app is None or runtime.slack_app_token is None:
        return None
    handler = AsyncSocketModeHandler(runtime.slack_app, runtime.slack_app_token)
    await handler.connect_async()
    log.info("connected to Slack in Socket Mode")
    return handler


async def serve(runtime: Runtime, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until cancelled or until uvicorn is asked to stop (SIGINT/SIGTERM), with the runtime's loops."""
    if runtime.slack_app is None:
        raise SlackNotConfigured(SLACK_NOT_CONFIGURED)
    server = web_server(runtime, host=host, port=port)
    socket_handler = await connect_socket_mode(runtime)
    if socket_handler is None:
        log.info("Slack requests are served at %s:%s/slack/events", server.config.host, server.config.port)
    stop = asyncio.Event()
    background = [asyncio.create_task(loop) for loop in runtime.loops(stop)]
    try:
        await server.serve()
    finally:
        stop.set()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if socket_handler is not None:
            await socket_handler.close_async()
