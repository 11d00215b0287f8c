"""The webhook providers as one port: each verifies and parses its own requests, nothing else.

`WebhookProvider.admit` reads a `WebhookRequest` in the order its provider needs (Postmark
checks its credentials before reading the body; SendGrid needs the exact body to check its
signature) and either returns the request's events or raises: `WebhookAuthError` (forged,
replayed, unauthenticated), `WebhookFormatError` (not the documented shape), `BodyTooLarge`,
or `ProviderUnreachable` (we could not reach the provider to finish, e.g. an SNS certificate).
The endpoint (web/webhooks/endpoint.py) maps those to 401/400/413/502 in one place and files
the events; a provider is a plain object built once at start-up from its secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks import mailgun, postmark, sendgrid, ses, sns
from services.tracking.webhooks.freshness import Receipt

log = logging.getLogger("invoicebot.webhooks")

_SNS_FETCH_TIMEOUT = 10.0
_SNS_MAX_RESPONSE_BYTES = 64 * 1024


class ProviderUnreachable(Exception):
    """Finishing the request needed the provider (a certificate, a SubscribeURL) and it did not answer."""


@dataclass(frozen=True)
class WebhookRequest:
    """A provider's request as the providers see it: headers, the bounded raw body, its arrival time."""

    headers: Mapping[str, str]
    now: datetime
    read_body: Callable[[], Awaitable[bytes]]  # raises BodyTooLarge past the limit

    async def body(self) -> bytes:
        return await self.read_body()


@dataclass(frozen=True)
class Admitted:
    """What a verified request said: events to file (with the receipts the replay guard keeps),
    or `answer`, a reply owed without filing anything (an SNS subscription confirmed)."""

    events: Sequence[IncomingEvent] = ()
    receipts: Sequence[Receipt] = ()
    answer: Mapping[str, Any] | None = None


class WebhookProvider(Protocol):
    """One email provider's webhook: `name` for logs and `challenge` headers on a 401."""

    @property
    def name(self) -> str: ...

    @property
    def challenge(self) -> Mapping[str, str]: ...

    async def admit(self, request: WebhookRequest) -> Admitted: ...


@dataclass(frozen=True)
class PostmarkProvider:
    """Basic credentials we chose, checked before the body is read."""

    user: str
    password: str = field(repr=False)
    name: str = "Postmark"
    challenge: Mapping[str, str] = field(
        default_factory=lambda: {"WWW-Authenticate": 'Basic realm="invoicebot webhooks"'}
    )

    async def admit(self, request: WebhookRequest) -> Admitted:
        postmark.verify(authorization=request.headers.get("authorization"), user=self.user, password=self.password)
        return Admitted(events=postmark.parse(await request.body()))


@dataclass(frozen=True)
class SendGridProvider:
    """An ECDSA signature over the timestamp and the exact body."""

    public_key: ec.EllipticCurvePublicKey = field(repr=False)
    name: str = "SendGrid"
    challenge: Mapping[str, str] = field(default_factory=dict)

    async def admit(self, request: WebhookRequest) -> Admitted:
        body = await request.body()
        sendgrid.verify(
            public_key=self.public_key,
            body=body,
            signature=request.headers.get(sendgrid.SIGNATURE_HEADER),
            timestamp=request.headers.get(sendgrid.TIMESTAMP_HEADER),
            now=request.now,
        )
        return Admitted(events=sendgrid.parse(body))


@dataclass(frozen=True)
class MailgunProvider:
    """An HMAC inside the JSON payload; its token is kept against replays."""

    signing_key: str = field(repr=False)
    name: str = "Mailgun"
    challenge: Mapping[str, str] = field(default_factory=dict)

    async def admit(self, request: WebhookRequest) -> Admitted:
        payload = mailgun.load_payload(await request.body())
        mailgun.verify(payload=payload, signing_key=self.signing_key, now=request.now)
        return Admitted(events=mailgun.parse(payload), receipts=[mailgun.token_receipt(payload)])


@dataclass(frozen=True)
class SesProvider:
    """SNS messages signed with an AWS certificate, from the topics we subscribed."""

    verifier: sns.SnsVerifier
    name: str = "SES"
    challenge: Mapping[str, str] = field(default_factory=dict)

    async def admit(self, request: WebhookRequest) -> Admitted:
        message = sns.load_message(await request.body())
        try:
            await self.verifier.verify(message, now=request.now)
            if message.type == sns.SUBSCRIPTION_CONFIRMATION:
                await self.verifier.confirm_subscription(message)
                log.info("confirmed the SNS subscription to %s", message.topic_arn)
                return Admitted(answer={"confirmed": message.topic_arn})
        except (httpx.HTTPError, ValueError) as exc:  # the certificate or SubscribeURL could not be read
            raise ProviderUnreachable(str(exc)) from exc
        return Admitted(events=ses.parse(message))


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
