"""`GET /metrics`: Prometheus text exposition of what an operator watches.

prometheus_client renders the format (no hand-written exposition); the values are read
from the database on each scrape (services/health.py), so any process answers the same.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.container import Container
from services.health import health_counts

LOCAL_CLIENTS = frozenset({"127.0.0.1", "::1", "localhost"})


def metrics_routes(container: Container) -> list[BaseRoute]:
    async def metrics(request: Request) -> Response:
        # The web app faces the internet (Slack, customers' links): only local scrapers see this.
        # A request a proxy forwarded is not local, even from a proxy on this host (X-Forwarded-For
        # is only believed from INVOICEBOT_TRUSTED_PROXIES, so the peer may be that proxy).
        forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        if request.client is None or request.client.host not in LOCAL_CLIENTS or forwarded:
            return Response(status_code=404)
        async with container.session() as session:
            counts = await health_counts(session)
        registry = CollectorRegistry()
        deliveries = Gauge("invoicebot_deliveries", "Invoice emails by status", ["status"], registry=registry)
        for status, count in counts.deliveries_by_status.items():
            deliveries.labels(status=status).set(count)
        unmatched = Gauge(
            "invoicebot_unmatched_events",
            "Bounces and provider events matching no email we sent (unparsed, orphan…), kept for review",
            ["type"],
            registry=registry,
        )
        for kind, count in counts.unmatched_events_by_type.items():
            unmatched.labels(type=kind).set(count)
        owed = Gauge("invoicebot_slack_posts_owed", "Slack posts not yet made", ["status"], registry=registry)
        for status, count in counts.notifications_by_status.items():
            owed.labels(status=status).set(count)
        Gauge("invoicebot_suppressed_addresses", "Addresses on the suppression list", registry=registry).set(
            counts.active_suppressions
        )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
