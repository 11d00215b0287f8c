"""The web app's routes beyond Slack's endpoint: one line per surface, each from its own module."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.container import Container
from bot.invoice_pages import invoice_page_routes
from bot.loop_health import LoopHealth
from bot.loop_reports import OtherProcesses
from bot.metrics_web import metrics_routes
from bot.webhooks_web import webhook_routes


def web_routes(container: Container, health: LoopHealth, others: OtherProcesses | None = None) -> list[BaseRoute]:
    """Every non-Slack route: provider webhooks, the invoice link page, the open pixel, metrics."""
    routes: list[BaseRoute] = []
    routes += invoice_page_routes(container)
    routes += webhook_routes(container)
    routes += metrics_routes(container, health, others)
    return routes
