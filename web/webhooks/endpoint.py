"""`POST /webhooks/{provider}`: email providers telling us what happened, through one door.

Every request is authenticated before anything is read into the database: a bad
signature, wrong credentials or a stale timestamp answer 401 and store nothing; a body
that is not the provider's documented shape answers 400, one over the limit 413, and both
store nothing. Those answers are decided here, once, for every provider
(web/webhooks/providers.py verifies and parses). A verified request's events are filed by
the event filer (services/tracking/filer.py) in one transaction, so a provider retrying after a
timeout never half-files a batch (and duplicates are dropped by event id). An event naming
no delivery of ours is stored as an orphan and still answers 200: refusing it would only
make the provider retry it for days.

A provider whose secret is not configured answers 404, as if the route did not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.db.models import utcnow
from services.errors import loggable
from services.tracking.filer import EventFiler
from services.tracking.webhooks import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.fields import MAX_BODY_BYTES
from services.tracking.webhooks.freshness import receipts_for
from services.tracking.webhooks.replay import ReplayGuard
from web.doors import BodyTooLarge, read_bounded_body
from web.webhooks.providers import Admitted, ProviderUnreachable, WebhookProvider, WebhookRequest

log = logging.getLogger("invoicebot.webhooks")

BODY_TOO_LARGE = "The body is too large."


def _refused(status: int, error: Exception, provider: str, headers: Mapping[str, str] | None = None) -> Response:
    log.warning("refused a %s webhook (%s): %s", provider, status, loggable(error))
    return JSONResponse({"error": str(error)}, status_code=status, headers=dict(headers or {}))


class WebhookEndpoint:
    """The one endpoint: find the provider, let it admit the request, file what it says."""

    def __init__(
        self,
        *,
        providers: Mapping[str, WebhookProvider],
        replay_guard: ReplayGuard,
        filer: EventFiler,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.providers = providers
        self.replay_guard = replay_guard
        self.filer = filer
        self.clock = clock

    async def answer(self, request: Request) -> Response:
        provider = self.providers.get(request.path_params["provider"])
        if provider is None:
            return JSONResponse({"error": "Not found."}, status_code=404)
        now = self.clock()
        incoming = WebhookRequest(
            headers=request.headers, now=now, read_body=lambda: read_bounded_body(request, MAX_BODY_BYTES)
        )
        try:
            admitted = await provider.admit(incoming)
        except WebhookAuthError as exc:
            return _refused(401, exc, provider.name, provider.challenge)
        except BodyTooLarge:
            return _refused(413, WebhookFormatError(BODY_TOO_LARGE), provider.name)
        except WebhookFormatError as exc:
            return _refused(400, exc, provider.name)
        except ProviderUnreachable as exc:  # let the provider retry later
            return _refused(502, exc, provider.name)
        if admitted.answer is not None:
            return JSONResponse(dict(admitted.answer))
        return await self._file(provider.name, admitted, now)

    async def _file(self, provider: str, admitted: Admitted, now: datetime) -> Response:
        """Admit the request past the replay guard (401 for a replay with other data), then file it."""
        events = admitted.events
        try:
            await self.replay_guard.admit(provider, [*admitted.receipts, *receipts_for(events)], now=now)
        except WebhookAuthError as exc:
            return _refused(401, exc, provider)
        recorded = await self.filer.file(events, now=now)
        duplicates = sum(item.duplicate for item in recorded)
        orphans = sum(item.delivery_id is None and not item.duplicate for item in recorded)
        return JSONResponse({"received": len(events), "duplicates": duplicates, "orphans": orphans})


def webhook_routes(endpoint: WebhookEndpoint) -> list[BaseRoute]:
    return [Route("/webhooks/{provider}", endpoint.answer, methods=["POST"])]
