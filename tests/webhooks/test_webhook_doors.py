"""Issue 11 at the webhook doors: replays with other data, hostile bodies, no 500s.

A Mailgun signature covers only `timestamp + token`, so within its five minutes a captured
one could carry any event: the replay store remembers each token and event id with a
digest of what it vouched for. An exact redelivery by the provider stays a 200.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, Suppression, WebhookReceipt, utcnow
from tests.harness.providers import (
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    AwsStandIn,
    SendGridSigner,
    SnsSigner,
    fixture_json,
    fixture_text,
    mailgun_signed,
)


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _event_types(session: AsyncSession) -> list[str]:
    query = select(DeliveryEvent.type).order_by(DeliveryEvent.id).execution_options(populate_existing=True)
    return list((await session.execute(query)).scalars())


async def test_a_captured_mailgun_signature_replayed_with_a_forged_complaint_gets_401_and_suppresses_nothing(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    genuine = json.loads(mailgun_signed(fixture_json("mailgun_delivered.json", token=delivery.verp_token)))
    first = await http.post(f"{web_url}/webhooks/mailgun", content=json.dumps(genuine).encode())

    forged = dict(genuine)  # the same signature (fresh, valid), other event data
    forged["event-data"] = dict(genuine["event-data"]) | {
        "event": "complained",
        "id": "forged-complaint-1",
        "recipient": "finance@acme.example",
    }
    replayed = await http.post(f"{web_url}/webhooks/mailgun", content=json.dumps(forged).encode())

    assert first.status_code == 200, first.text
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["error"]
    assert await _event_types(session) == ["delivered"]
    assert await _count(session, Suppression) == 0


async def test_an_exact_mailgun_redelivery_is_deduplicated_and_answers_200(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    body = mailgun_signed(fixture_json("mailgun_failed_permanent.json", token=delivery.verp_token))

    first = await http.post(f"{web_url}/webhooks/mailgun", content=body)
    again = await http.post(f"{web_url}/webhooks/mailgun", content=body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"received": 1, "duplicates": 1, "orphans": 0}
    assert await _event_types(session) == ["bounced"]
    assert await _count(session, Suppression) == 1


async def test_a_sendgrid_event_id_seen_before_with_other_data_gets_401_and_stores_nothing(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, sendgrid_signer: SendGridSigner
):
    batch = json.loads(fixture_text("sendgrid_events.json", token=delivery.verp_token))
    delivered = [event for event in batch if event["event"] == "delivered"]
    first_body = json.dumps(delivered).encode()
    first = await http.post(
        f"{web_url}/webhooks/sendgrid", content=first_body, headers=sendgrid_signer.headers(first_body)
    )
    rewritten = [delivered[0] | {"event": "spamreport"}]
    second_body = json.dumps(rewritten).encode()

    second = await http.post(
        f"{web_url}/webhooks/sendgrid", content=second_body, headers=sendgrid_signer.headers(second_body)
    )

    assert (first.status_code, second.status_code) == (200, 401)
    assert await _event_types(session) == ["delivered"]
    assert await _count(session, Suppression) == 0


async def test_receipts_are_kept_for_the_signature_window_and_purged_when_expired(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    session.add(
        WebhookReceipt(provider="Mailgun", key="0" * 64, digest="0" * 64, expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    before = utcnow()

    response = await http.post(
        f"{web_url}/webhooks/mailgun",
        content=mailgun_signed(fixture_json("mailgun_delivered.json", token=delivery.verp_token)),
    )

    assert response.status_code == 200
    query = select(WebhookReceipt).execution_options(populate_existing=True)
    receipts = list((await session.execute(query)).scalars())
    assert len(receipts) == 2  # the signature token and the event id; the expired one is gone
    assert all(len(receipt.key) == 64 and receipt.key != "0" * 64 for receipt in receipts)
    for receipt in receipts:
        assert before + timedelta(minutes=10) <= receipt.expires_at <= utcnow() + timedelta(minutes=10)


async def test_a_mailgun_signature_that_is_not_ascii_gets_401(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    payload = json.loads(mailgun_signed(fixture_json("mailgun_delivered.json", token=delivery.verp_token)))
    payload["signature"]["signature"] = "é" * 64

    response = await http.post(f"{web_url}/webhooks/mailgun", content=json.dumps(payload).encode())

    assert response.status_code == 401
    assert await _event_types(session) == []


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("provider", ["mailgun", "ses", "sendgrid", "postmark"])
async def test_json_nested_100000_deep_gets_400_on_every_provider(
    provider: str, web_url: str, http: httpx.AsyncClient, session: AsyncSession, sendgrid_signer: SendGridSigner
):
    headers = sendgrid_signer.headers(DEEP) if provider == "sendgrid" else {}
    auth = (POSTMARK_USER, POSTMARK_PASSWORD) if provider == "postmark" else httpx.USE_CLIENT_DEFAULT

    response = await http.post(f"{web_url}/webhooks/{provider}", content=DEEP, headers=headers, auth=auth)

    assert response.status_code == 400
    assert "nested" in response.json()["error"]
    assert await _event_types(session) == []


async def test_a_webhook_body_over_the_limit_gets_413_before_it_is_read(web_url: str, http: httpx.AsyncClient):
    oversized = b" " * (6 * 1024 * 1024)

    response = await http.post(f"{web_url}/webhooks/mailgun", content=oversized)

    assert response.status_code == 413


async def test_postmark_credentials_that_are_not_ascii_get_401(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession
):
    body = fixture_text("postmark_bounce.json", token="t").encode()

    response = await http.post(f"{web_url}/webhooks/postmark", content=body, headers={b"Authorization": b"Basic \xe9"})

    assert response.status_code == 401
    assert await _event_types(session) == []


async def test_an_sns_signature_that_is_not_ascii_gets_401_not_a_server_error(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, sns_signer: SnsSigner, aws: AwsStandIn
):
    message = fixture_json("sns_notification.json")
    message["Message"] = fixture_text("ses_delivery.json", token="t", message_id="<m@example.com>")
    signed = json.loads(sns_signer.sign(message, cert_url=aws.cert_url))
    signed["Signature"] = "é" + signed["Signature"][1:]

    response = await http.post(f"{web_url}/webhooks/ses", content=json.dumps(signed).encode())

    assert response.status_code == 401
    assert await _event_types(session) == []
