"""Provider webhooks through the real web app over HTTP: what lands in the database."""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import bootstrap
from bot.config import load_settings
from services.db.models import Delivery, DeliveryEvent, Suppression
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
from tests.harness.servers import serving

POSTMARK_AUTH = (POSTMARK_USER, POSTMARK_PASSWORD)


async def _events(session: AsyncSession) -> list[DeliveryEvent]:
    query = (
        select(DeliveryEvent)
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def _status(session: AsyncSession, delivery: Delivery) -> str:
    return (await session.execute(select(Delivery.status).where(Delivery.id == delivery.id))).scalar_one()


def _sns_notification(signer: SnsSigner, aws: AwsStandIn, name: str, delivery: Delivery) -> bytes:
    message = fixture_json("sns_notification.json")
    message["Message"] = fixture_text(name, token=delivery.verp_token, message_id=delivery.message_id)
    return signer.sign(message, cert_url=aws.cert_url)


# SendGrid


async def test_a_signed_sendgrid_batch_files_every_followed_event_on_its_delivery(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, sendgrid_signer: SendGridSigner
):
    body = fixture_text("sendgrid_events.json", token=delivery.verp_token).encode()
    response = await http.post(f"{web_url}/webhooks/sendgrid", content=body, headers=sendgrid_signer.headers(body))
    assert response.status_code == 200, response.text
    events = await _events(session)
    assert [(e.source, e.type, e.recipient) for e in events] == [
        ("sendgrid", "deferred", "ap@acme.example"),
        ("sendgrid", "delivered", "ap@acme.example"),
        ("sendgrid", "opened", "ap@acme.example"),
        ("sendgrid", "bounced", "finance@acme.example"),
        ("sendgrid", "dropped", "old@acme.example"),
        ("sendgrid", "complained", "boss@acme.example"),
    ]
    assert {e.delivery_id for e in events} == {delivery.id}
    assert events[3].detail["bounce_kind"] == "hard"
    assert events[3].detail["status"] == "5.1.1"
    assert await _status(session, delivery) in {"bounced", "complained"}
    suppressed = (await session.execute(select(Suppression.email).order_by(Suppression.email))).scalars().all()
    assert suppressed == ["boss@acme.example", "finance@acme.example"]


async def test_a_sendgrid_batch_sent_twice_is_filed_once(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, sendgrid_signer: SendGridSigner
):
    body = fixture_text("sendgrid_events.json", token=delivery.verp_token).encode()
    first = await http.post(f"{web_url}/webhooks/sendgrid", content=body, headers=sendgrid_signer.headers(body))
    second = await http.post(f"{web_url}/webhooks/sendgrid", content=body, headers=sendgrid_signer.headers(body))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"received": 6, "duplicates": 6, "orphans": 0}
    assert len(await _events(session)) == 6


async def test_a_forged_or_replayed_sendgrid_batch_gets_401_and_changes_nothing(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, sendgrid_signer: SendGridSigner
):
    body = fixture_text("sendgrid_events.json", token=delivery.verp_token).encode()
    forged = SendGridSigner().headers(body)
    replayed = sendgrid_signer.headers(body, timestamp=int(time.time()) - 6 * 60)
    tampered = sendgrid_signer.headers(body)
    for content, headers in ((body, forged), (body, replayed), (body.replace(b"bounce", b"delivered"), tampered)):
        response = await http.post(f"{web_url}/webhooks/sendgrid", content=content, headers=headers)
        assert response.status_code == 401
    assert await _events(session) == []
    assert await _status(session, delivery) == "accepted"


async def test_a_signed_but_malformed_sendgrid_body_gets_400(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, sendgrid_signer: SendGridSigner
):
    for body in (b"{not json", b'{"event": "bounce"}', b'[{"event": "bounce", "email": "a@b.example"}]'):
        response = await http.post(f"{web_url}/webhooks/sendgrid", content=body, headers=sendgrid_signer.headers(body))
        assert response.status_code == 400, body
    assert await _events(session) == []


# Mailgun


async def test_a_mailgun_permanent_failure_bounces_the_delivery_and_suppresses_the_address(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    body = mailgun_signed(fixture_json("mailgun_failed_permanent.json", token=delivery.verp_token))
    response = await http.post(f"{web_url}/webhooks/mailgun", content=body)
    assert response.status_code == 200, response.text
    [event] = await _events(session)
    assert (event.delivery_id, event.source, event.type, event.source_event_id) == (
        delivery.id, "mailgun", "bounced", "G9Bn5sl1TC6nu79C8C0bwg",
    )  # fmt: skip
    assert await _status(session, delivery) == "bounced"
    assert (await session.execute(select(Suppression.reason))).scalars().all() == ["hard_bounce"]


async def test_a_mailgun_request_with_a_wrong_or_stale_signature_gets_401(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    template = fixture_json("mailgun_failed_permanent.json", token=delivery.verp_token)
    wrong = mailgun_signed(json.loads(json.dumps(template)), key="not-our-key")
    stale = mailgun_signed(json.loads(json.dumps(template)), timestamp=int(time.time()) - 3600)
    for body in (wrong, stale):
        assert (await http.post(f"{web_url}/webhooks/mailgun", content=body)).status_code == 401
    assert await _events(session) == []
    assert await _status(session, delivery) == "accepted"


# Postmark


async def test_a_postmark_delivery_with_our_credentials_marks_the_recipient_delivered(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    body = fixture_text("postmark_delivery.json", token=delivery.verp_token)
    response = await http.post(f"{web_url}/webhooks/postmark", content=body, auth=POSTMARK_AUTH)
    assert response.status_code == 200, response.text
    [event] = await _events(session)
    assert (event.delivery_id, event.type, event.recipient) == (delivery.id, "delivered", "ap@acme.example")


async def test_a_postmark_request_without_our_credentials_gets_401_and_stores_nothing(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    body = fixture_text("postmark_bounce.json", token=delivery.verp_token)
    anonymous = await http.post(f"{web_url}/webhooks/postmark", content=body)
    wrong = await http.post(f"{web_url}/webhooks/postmark", content=body, auth=(POSTMARK_USER, "guess"))
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert await _events(session) == []


async def test_a_postmark_bounce_for_an_unknown_delivery_is_kept_as_an_orphan(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery
):
    body = fixture_text("postmark_bounce.json", token="forged-token")
    response = await http.post(f"{web_url}/webhooks/postmark", content=body, auth=POSTMARK_AUTH)
    assert response.status_code == 200
    assert response.json()["orphans"] == 1
    [event] = await _events(session)
    assert (event.delivery_id, event.type, event.recipient) == (None, "bounced", "ap@acme.example")
    assert await _status(session, delivery) == "accepted"


async def test_a_malformed_postmark_body_gets_400(web_url: str, http: httpx.AsyncClient, session: AsyncSession):
    response = await http.post(f"{web_url}/webhooks/postmark", content=b"{oops", auth=POSTMARK_AUTH)
    assert response.status_code == 400
    assert await _events(session) == []


# Amazon SES via SNS


async def test_an_ses_bounce_through_sns_is_verified_with_the_served_certificate_and_filed(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, aws: AwsStandIn,
    sns_signer: SnsSigner,
):  # fmt: skip
    body = _sns_notification(sns_signer, aws, "ses_bounce.json", delivery)
    headers = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"}
    response = await http.post(f"{web_url}/webhooks/ses", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [event] = await _events(session)
    assert (event.delivery_id, event.source, event.type, event.detail["status"]) == (
        delivery.id, "ses", "bounced", "5.1.1",
    )  # fmt: skip
    assert await _status(session, delivery) == "bounced"
    assert aws.certificate_fetches == 1


async def test_an_sns_subscription_is_confirmed_only_when_its_signature_is_valid(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, aws: AwsStandIn, sns_signer: SnsSigner
):
    message = fixture_json("sns_subscription_confirmation.json")
    message["SubscribeURL"] = f"{aws.base_url}/?Action=ConfirmSubscription&Token={message['Token'][:16]}"
    forged = SnsSigner().sign(dict(message), cert_url=aws.cert_url)
    assert (await http.post(f"{web_url}/webhooks/ses", content=forged)).status_code == 401
    assert aws.confirmations == []
    genuine = sns_signer.sign(dict(message), cert_url=aws.cert_url)
    response = await http.post(f"{web_url}/webhooks/ses", content=genuine)
    assert response.status_code == 200, response.text
    assert aws.confirmations == [{"Action": "ConfirmSubscription", "Token": message["Token"][:16]}]
    assert await _events(session) == []


async def test_an_sns_message_from_a_foreign_topic_gets_401(
    web_url: str, http: httpx.AsyncClient, session: AsyncSession, delivery: Delivery, aws: AwsStandIn,
    sns_signer: SnsSigner,
):  # fmt: skip
    message = json.loads(_sns_notification(sns_signer, aws, "ses_bounce.json", delivery))
    message["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:not-ours"
    body = sns_signer.sign(message, cert_url=aws.cert_url)
    assert (await http.post(f"{web_url}/webhooks/ses", content=body)).status_code == 401
    assert await _events(session) == []


# Not configured


async def test_providers_without_a_configured_secret_answer_404(
    database_url: str, http: httpx.AsyncClient, session: AsyncSession, org: object
):
    runtime = bootstrap(load_settings(DATABASE_URL=database_url))
    try:
        async with serving(runtime.web_app) as url:
            for provider in ("postmark", "sendgrid", "mailgun", "ses"):
                response = await http.post(f"{url}/webhooks/{provider}", content=b"[]")
                assert response.status_code == 404, provider
    finally:
        await runtime.aclose()
    assert await _events(session) == []
