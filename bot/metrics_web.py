"""`GET /metrics`: Prometheus text exposition of what an operator watches.

prometheus_client renders the format (no hand-written exposition); the values are read
from the database on each scrape (services/health.py), so any process answers the same.

Access is by bearer token (`INVOICEBOT_METRICS_TOKEN`), compared in constant time; without
the setting metrics are off (404). Never by client address: behind a local reverse proxy
every request comes from 127.0.0.1.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.container import Container
from services.health import health_counts


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """True when the header is `Bearer <token>`; the comparison takes the same time either way."""
    scheme, _, given = (authorization or "").partition(" ")
    expected = f"Bearer {token}".encode()
    return hmac.compare_digest(f"{scheme.capitalize()} {given.strip()}".encode("utf-8", "replace"), expected)


def metrics_routes(container: Container) -> list[BaseRoute]:
    secret = container.settings.metrics_token

    async def metrics(request: Request) -> Response:
        if secret is None:
            return PlainTextResponse("Not found.", status_code=404)
        if not bearer_token_matches(request.headers.get("authorization"), secret.get_secret_value()):
            return PlainTextResponse(
                "A metrics token is required.", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
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
