"""`POST /webhooks/postmark|sendgrid|mailgun|ses`: email providers telling us what happened.

Every request is authenticated before anything is read into the database: a bad
signature, wrong credentials or a stale timestamp answer 401 and store nothing; a body
that is not the provider's documented shape answers 400 and stores nothing. A verified
request's events are filed by `record_delivery_event` in one transaction, so a provider
retrying after a timeout never half-files a batch (and duplicates are dropped by event
id). An event naming no delivery of ours is stored as an orphan and still answers 200:
refusing it would only make the provider retry it for days.

A provider whose secret is not configured answers 404, as if the route did not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.container import Container
from bot.web_doors import BodyTooLarge, read_bounded_body
from handlers.errors import loggable
from services.db.models import utcnow
from services.delivery_events import IncomingEvent
from services.event_filer import EventFiler
from services.webhooks import WebhookAuthError, WebhookFormatError, mailgun, postmark, sendgrid, ses, sns
from services.webhooks.fields import MAX_BODY_BYTES
from services.webhooks.keys import load_sendgrid_public_key
from services.webhooks.replay import Receipt, ReplayGuard, receipts_for

log = logging.getLogger("invoicebot.webhooks")

_SNS_FETCH_TIMEOUT = 10.0
_SNS_MAX_RESPONSE_BYTES = 64 * 1024


async def fetch_from_aws(url: str) -> bytes:
    """GET an SNS certificate or SubscribeURL (no redirects, 10 s, 64 kB at most)."""
    async with (
        httpx.AsyncClient(timeout=_SNS_FETCH_TIMEOUT, follow_redirects=False) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _SNS_MAX_RESPONSE_BYTES:
                raise ValueError(f"the response from {url} is larger than {_SNS_MAX_RESPONSE_BYTES} bytes")
        return body


def _refused(status: int, error: Exception, provider: str) -> Response:
    log.warning("refused a %s webhook (%s): %s", provider, status, loggable(error))
    return JSONResponse({"error": str(error)}, status_code=status)


def _not_configured() -> Response:
    return JSONResponse({"error": "Not found."}, status_code=404)


@dataclass
class WebhookEndpoints:
    """The four endpoints over one container; `clock` and `sns_verifier` are injectable for tests."""

    container: Container
    sns_verifier: sns.SnsVerifier | None
    clock: Callable[[], datetime] = utcnow

    filer: EventFiler | None = None

    async def _file(
        self, provider: str, events: Sequence[IncomingEvent], now: datetime, receipts: Sequence[Receipt] = ()
    ) -> Response:
        """Admit the request past the replay guard (401 for a replay with other data), then file it."""
        try:
            await ReplayGuard(self.container.sessions).admit(provider, [*receipts, *receipts_for(events)], now=now)
        except WebhookAuthError as exc:
            return _refused(401, exc, provider)
        if self.filer is None:  # concurrent requests share transactions: services/event_filer.py
            self.filer = EventFiler(self.container.sessions, verp_secret=self.container.verp_secret())
        recorded = await self.filer.file(events, now=now)
        duplicates = sum(item.duplicate for item in recorded)
        orphans = sum(item.delivery_id is None and not item.duplicate for item in recorded)
        return JSONResponse({"received": len(events), "duplicates": duplicates, "orphans": orphans})

    async def postmark(self, request: Request) -> Response:
        settings = self.container.settings
        if not settings.postmark_webhook_user or settings.postmark_webhook_password is None:
            return _not_configured()
        try:
            postmark.verify(
                authorization=request.headers.get("authorization"),
                user=settings.postmark_webhook_user,
                password=settings.postmark_webhook_password.get_secret_value(),
            )
        except WebhookAuthError as exc:
            response = _refused(401, exc, "Postmark")
            response.headers["WWW-Authenticate"] = 'Basic realm="invoicebot webhooks"'
            return response
        return await self._parse_and_file("Postmark", request, postmark.parse)

    async def sendgrid(self, request: Request) -> Response:
        encoded_key = self.container.settings.sendgrid_webhook_public_key
        if not encoded_key:
            return _not_configured()
        try:
            body = await read_bounded_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return _refused(413, WebhookFormatError("The body is too large."), "SendGrid")
        now = self.clock()
        try:
            sendgrid.verify(
                public_key=load_sendgrid_public_key(encoded_key),
                body=body,
                signature=request.headers.get(sendgrid.SIGNATURE_HEADER),
                timestamp=request.headers.get(sendgrid.TIMESTAMP_HEADER),
                now=now,
            )
            events = sendgrid.parse(body)
        except WebhookAuthError as exc:
            return _refused(401, exc, "SendGrid")
        except WebhookFormatError as exc:
            return _refused(400, exc, "SendGrid")
        return await self._file("SendGrid", events, now)

    async def mailgun(self, request: Request) -> Response:
        signing_key = self.container.settings.mailgun_signing_key
        if signing_key is None:
            return _not_configured()
        now = self.clock()
        try:
            payload = mailgun.load_payload(await read_bounded_body(request, MAX_BODY_BYTES))
            mailgun.verify(payload=payload, signing_key=signing_key.get_secret_value(), now=now)
            events = mailgun.parse(payload)
        except BodyTooLarge:
            return _refused(413, WebhookFormatError("The body is too large."), "Mailgun")
        except WebhookAuthError as exc:
            return _refused(401, exc, "Mailgun")
        except WebhookFormatError as exc:
            return _refused(400, exc, "Mailgun")
        return await self._file("Mailgun", events, now, [mailgun.token_receipt(payload)])

    async def ses(self, request: Request) -> Response:
        if self.sns_verifier is None:
            return _not_configured()
        now = self.clock()
        try:
            message = sns.load_message(await read_bounded_body(request, MAX_BODY_BYTES))
            await self.sns_verifier.verify(message, now=now)
            if message.type == sns.SUBSCRIPTION_CONFIRMATION:
                await self.sns_verifier.confirm_subscription(message)
                log.info("confirmed the SNS subscription to %s", message.topic_arn)
                return JSONResponse({"confirmed": message.topic_arn})
            events = ses.parse(message)
        except BodyTooLarge:
            return _refused(413, WebhookFormatError("The body is too large."), "SES")
        except WebhookAuthError as exc:
            return _refused(401, exc, "SES")
        except WebhookFormatError as exc:
            return _refused(400, exc, "SES")
        except (httpx.HTTPError, ValueError) as exc:  # the SubscribeURL could not be reached: let SNS retry
            return _refused(502, exc, "SES")
        return await self._file("SES", events, now)

    async def _parse_and_file(
        self, provider: str, request: Request, parse: Callable[[bytes], list[IncomingEvent]]
    ) -> Response:
        now = self.clock()
        try:
            events = parse(await read_bounded_body(request, MAX_BODY_BYTES))
        except BodyTooLarge:
            return _refused(413, WebhookFormatError("The body is too large."), provider)
        except WebhookFormatError as exc:
            return _refused(400, exc, provider)
        return await self._file(provider, events, now)


def webhook_routes(
    container: Container,
    *,
    sns_fetch: sns.Fetch = fetch_from_aws,
    sns_trusts_url: Callable[[str], bool] = sns.is_aws_sns_url,
    clock: Callable[[], datetime] = utcnow,
) -> list[BaseRoute]:
    """The webhook routes. Tests inject `sns_fetch`/`sns_trusts_url` to serve a certificate locally."""
    topics = frozenset(container.settings.ses_topic_arns)
    verifier = sns.SnsVerifier(fetch=sns_fetch, topic_arns=topics, trusts_url=sns_trusts_url) if topics else None
    endpoints = WebhookEndpoints(container=container, sns_verifier=verifier, clock=clock)
    return [
        Route("/webhooks/postmark", endpoints.postmark, methods=["POST"]),
        Route("/webhooks/sendgrid", endpoints.sendgrid, methods=["POST"]),
        Route("/webhooks/mailgun", endpoints.mailgun, methods=["POST"]),
        Route("/webhooks/ses", endpoints.ses, methods=["POST"]),
    ]
