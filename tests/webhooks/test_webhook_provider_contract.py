"""The webhook port (web/webhooks/providers.py) and its one endpoint, as a contract for every provider.

Each provider only verifies and parses; the endpoint alone turns what a provider raises into an
answer. So: a forged request gets 401 and stores nothing, whichever provider it claims to come
from, and the mapping (401 with the provider's challenge, 400, 413, 502, 404 for a provider not
configured) is asserted once, with a provider that raises each refusal in turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from services.db.models import DeliveryEvent
from services.tracking.filer import EventFiler
from services.tracking.webhooks import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.replay import ReplayGuard
from tests.harness.providers import AwsStandIn, SnsSigner, fixture_json, fixture_text, mailgun_signed
from web.doors import BodyTooLarge
from web.webhooks.endpoint import WebhookEndpoint, webhook_routes
from web.webhooks.providers import Admitted, ProviderUnreachable, WebhookRequest


def forged_request(provider: str, aws: AwsStandIn) -> tuple[bytes, dict[str, str]]:
    """A well-formed request of `provider` that its secret did not sign."""
    if provider == "postmark":
        return fixture_text("postmark_bounce.json", token="t").encode(), {"Authorization": "Basic Z3Vlc3M6Z3Vlc3M="}
    if provider == "sendgrid":
        return fixture_text("sendgrid_events.json", token="t").encode(), {}
    if provider == "mailgun":
        return mailgun_signed(fixture_json("mailgun_delivered.json", token="t"), key="not-our-key"), {}
    message = fixture_json("sns_notification.json")
    message["Message"] = fixture_text("ses_bounce.json", token="t", message_id="<m@example.com>")
    return SnsSigner().sign(message, cert_url=aws.cert_url), {}  # a key AWS never certified


@pytest.mark.parametrize("provider", ["postmark", "sendgrid", "mailgun", "ses"])
async def test_a_forged_request_gets_401_and_stores_nothing_whichever_provider_it_names(
    provider: str, web_url: str, http: httpx.AsyncClient, session: AsyncSession, aws: AwsStandIn
):
    body, headers = forged_request(provider, aws)

    response = await http.post(f"{web_url}/webhooks/{provider}", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert (await session.execute(select(DeliveryEvent))).first() is None


@dataclass
class Refusing:
    """A provider that refuses every request with `error` (after reading the body, like most)."""

    error: Exception | None
    name: str = "Refusing"
    challenge: Mapping[str, str] = field(default_factory=lambda: {"WWW-Authenticate": "Test"})

    async def admit(self, request: WebhookRequest) -> Admitted:
        await request.body()
        if self.error is not None:
            raise self.error
        return Admitted(answer={"confirmed": "yes"})


@pytest.mark.parametrize(
    ("error", "status", "challenged"),
    [
        (WebhookAuthError("Forged."), 401, True),
        (WebhookFormatError("Not the documented shape."), 400, False),
        (BodyTooLarge(10), 413, False),
        (ProviderUnreachable("The certificate could not be fetched."), 502, False),
        (None, 200, False),
    ],
)
async def test_the_one_endpoint_maps_what_a_provider_raises_to_its_answer(
    error: Exception | None, status: int, challenged: bool, sessions: async_sessionmaker[AsyncSession]
):
    endpoint = WebhookEndpoint(
        providers={"refusing": Refusing(error)},
        replay_guard=ReplayGuard(sessions),
        filer=EventFiler(sessions, verp_secret=b"secret"),
    )
    app = Starlette(routes=webhook_routes(endpoint))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answered = await client.post("/webhooks/refusing", content=b"{}")
        unknown = await client.post("/webhooks/unknown", content=b"{}")

    assert answered.status_code == status, answered.text
    assert ("WWW-Authenticate" in answered.headers) is challenged
    assert unknown.status_code == 404
