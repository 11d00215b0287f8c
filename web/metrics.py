"""`GET /metrics`: Prometheus text exposition of what an operator watches.

prometheus_client renders the format (no hand-written exposition); the values are read
from the database on each scrape (services/health.py), so any process answers the same.

Access is by bearer token (`INVOICEBOT_METRICS_TOKEN`), compared in constant time; without
the setting metrics are off (404). Never by client address: behind a local reverse proxy
every request comes from 127.0.0.1.

The loop gauges come from this process's `LoopHealth` and are served even when the database
does not answer within `DATABASE_ANSWER_SECONDS` (locked, down): that is when they matter.
The loops of other processes (a separate `invoicebot worker`) come from the reports they
write to the database (web/fleet_health.py), judged as `/healthz` judges them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from services.errors import error_summary
from services.health import HealthCounts, health_counts
from web.fleet_health import DATABASE_ANSWER_SECONDS, FleetVerdict, OtherProcesses
from web.healthz import LoopReports
from web.view_recorder import SessionOpener

log = logging.getLogger(__name__)


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """True when the header is `Bearer <token>`; the comparison takes the same time either way."""
    scheme, _, given = (authorization or "").partition(" ")
    expected = f"Bearer {token}".encode()
    return hmac.compare_digest(f"{scheme.capitalize()} {given.strip()}".encode("utf-8", "replace"), expected)


def metrics_routes(
    *, token: str | None, sessions: SessionOpener, health: LoopReports, others: OtherProcesses | None = None
) -> list[BaseRoute]:
    """`token`: the bearer token scrapers present (None: metrics are off); `others`: the loop
    reports of other processes (web/fleet_health.py)."""

    async def metrics(request: Request) -> Response:
        if token is None:
            return PlainTextResponse("Not found.", status_code=404)
        if not bearer_token_matches(request.headers.get("authorization"), token):
            return PlainTextResponse(
                "A metrics token is required.", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        registry = CollectorRegistry()
        _loop_gauges(registry, health)
        if others is not None:
            _reported_loop_gauges(registry, await others.verdict())
        readable = Gauge(
            "invoicebot_database_answered",
            "1 when this scrape read the counts from the database in time, 0 when it did not answer",
            registry=registry,
        )
        try:
            async with asyncio.timeout(DATABASE_ANSWER_SECONDS), sessions() as session:
                counts = await health_counts(session)
        except (TimeoutError, SQLAlchemyError) as exc:
            log.warning("/metrics: the database did not answer (%s); serving the loop gauges only", error_summary(exc))
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        readable.set(1)
        _count_gauges(registry, counts)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]


def _count_gauges(registry: CollectorRegistry, counts: HealthCounts) -> None:
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


def _loop_gauges(registry: CollectorRegistry, health: LoopReports) -> None:
    """The same verdicts as /healthz: 0 is red (stalled while work is due), 1 green."""
    healthy = Gauge(
        "invoicebot_loop_healthy",
        "1 while the background loop makes progress or has nothing to do, 0 while it is stalled",
        ["loop"],
        registry=registry,
    )
    quiet = Gauge(
        "invoicebot_loop_seconds_since_progress",
        "Seconds since the loop last did work or found nothing due",
        ["loop"],
        registry=registry,
    )
    for verdict in health.verdicts():
        healthy.labels(loop=verdict.name).set(1 if verdict.healthy else 0)
        quiet.labels(loop=verdict.name).set(verdict.seconds_since_progress)


def _reported_loop_gauges(registry: CollectorRegistry, fleet: FleetVerdict) -> None:
    """Other processes' loops: 0 when reported stalled or when their process stopped reporting."""
    healthy = Gauge(
        "invoicebot_process_loop_healthy",
        "1 while a loop of another process (e.g. invoicebot worker) reports progress or nothing to do; "
        "0 while it reports a stall or its report is older than the stall window",
        ["process", "loop"],
        registry=registry,
    )
    age = Gauge(
        "invoicebot_process_loop_report_age_seconds",
        "Seconds since the loop's process last reported its health",
        ["process", "loop"],
        registry=registry,
    )
    for loop in fleet.loops:
        healthy.labels(process=loop.process, loop=loop.loop).set(1 if loop.healthy else 0)
        age.labels(process=loop.process, loop=loop.loop).set(loop.report_age)
