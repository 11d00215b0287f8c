"""Each provider's documented payloads map onto one event model; forged ones are refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from services.tracking.webhooks import WebhookAuthError, WebhookFormatError, mailgun, postmark, sendgrid, ses, sns
from services.tracking.webhooks.keys import load_sendgrid_public_key
from tests.harness.providers import (
    MAILGUN_SIGNING_KEY,
    TOPIC_ARN,
    SendGridSigner,
    SnsSigner,
    fixture_json,
    fixture_text,
    mailgun_signed,
)

TOKEN = "abc123-token"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# Postmark


def test_postmark_hard_bounce_becomes_a_hard_bounced_event_for_its_delivery():
    [event] = postmark.parse(fixture_text("postmark_bounce.json", token=TOKEN).encode())
    assert (event.source, event.type, event.bounce_kind) == ("postmark", "bounced", "hard")
    assert event.recipient == "ap@acme.example"
    assert event.verp_token == TOKEN
    assert event.source_event_id == "Bounce:4323372036854775807"
    assert event.occurred_at == datetime(2026, 11, 23, 16, 34, 10, 123456, tzinfo=UTC)
    assert "550 5.1.1" in (event.diagnostic or "")


def test_postmark_delivery_complaint_and_open_map_onto_their_types():
    kinds = {
        name: postmark.parse(fixture_text(name, token=TOKEN).encode())[0].type
        for name in ("postmark_delivery.json", "postmark_spam_complaint.json", "postmark_open.json")
    }
    assert kinds == {
        "postmark_delivery.json": "delivered",
        "postmark_spam_complaint.json": "complained",
        "postmark_open.json": "opened",
    }
    [opened] = postmark.parse(fixture_text("postmark_open.json", token=TOKEN).encode())
    assert opened.occurred_at == datetime(2026, 11, 23, 17, 1, 2, tzinfo=UTC)
    assert opened.source_event_id == "883953f4-6105-42a2-a16a-77a8eac79483:Open:ap@acme.example"


def test_postmark_soft_bounce_and_auto_reply_are_told_apart():
    record = fixture_json("postmark_bounce.json", token=TOKEN)
    record["Type"] = "SoftBounce"
    [soft] = postmark.parse(json.dumps(record).encode())
    assert (soft.type, soft.bounce_kind) == ("bounced", "soft")
    record["Type"] = "AutoResponder"
    assert postmark.parse(json.dumps(record).encode()) == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"RecordType": "Bounce", "Type": "HardBounce"}'])
def test_postmark_malformed_bodies_are_format_errors(body: bytes):
    with pytest.raises(WebhookFormatError):
        postmark.parse(body)


def test_postmark_basic_auth_accepts_the_configured_credentials_only():
    postmark.verify(authorization=_basic("hooks", "s3cret"), user="hooks", password="s3cret")
    for header in (None, "Bearer x", _basic("hooks", "wrong"), _basic("other", "s3cret"), "Basic %%%"):
        with pytest.raises(WebhookAuthError):
            postmark.verify(authorization=header, user="hooks", password="s3cret")


# SendGrid


def test_sendgrid_batch_keeps_followed_events_in_order_with_their_ids():
    events = sendgrid.parse(fixture_text("sendgrid_events.json", token=TOKEN).encode())
    assert [(e.type, e.recipient) for e in events] == [
        ("deferred", "ap@acme.example"),
        ("delivered", "ap@acme.example"),
        ("opened", "ap@acme.example"),
        ("bounced", "finance@acme.example"),
        ("dropped", "old@acme.example"),
        ("complained", "boss@acme.example"),
    ]
    bounce = events[3]
    assert (bounce.bounce_kind, bounce.status_code, bounce.source_event_id) == (
        "hard",
        "5.1.1",
        "6g4ZI7SA-xmRDv57GoPIPw==",
    )
    assert all(e.verp_token == TOKEN for e in events)


def test_sendgrid_blocked_bounce_is_soft():
    items = fixture_json("sendgrid_events.json", token=TOKEN)
    items[5]["type"] = "blocked"
    [bounce] = [e for e in sendgrid.parse(json.dumps(items).encode()) if e.type == "bounced"]
    assert bounce.bounce_kind == "soft"


def test_sendgrid_signature_over_timestamp_and_raw_body_verifies():
    signer = SendGridSigner()
    body = fixture_text("sendgrid_events.json", token=TOKEN).encode()
    headers = signer.headers(body)
    sendgrid.verify(
        public_key=load_sendgrid_public_key(signer.public_key_base64),
        body=body,
        signature=headers[sendgrid.SIGNATURE_HEADER],
        timestamp=headers[sendgrid.TIMESTAMP_HEADER],
        now=datetime.now(UTC),
    )


@pytest.mark.parametrize("forgery", ["altered body", "other key", "old timestamp", "no signature"])
def test_sendgrid_forged_or_replayed_batches_are_refused(forgery: str):
    signer = SendGridSigner()
    body = fixture_text("sendgrid_events.json", token=TOKEN).encode()
    headers = signer.headers(body, timestamp=int(time.time()) - 301 if forgery == "old timestamp" else None)
    key = SendGridSigner().public_key_base64 if forgery == "other key" else signer.public_key_base64
    with pytest.raises(WebhookAuthError):
        sendgrid.verify(
            public_key=load_sendgrid_public_key(key),
            body=body.replace(b"5.1.1", b"2.0.0") if forgery == "altered body" else body,
            signature=None if forgery == "no signature" else headers[sendgrid.SIGNATURE_HEADER],
            timestamp=headers[sendgrid.TIMESTAMP_HEADER],
            now=datetime.now(UTC),
        )


def test_a_sendgrid_key_that_is_not_p256_is_refused_at_load():
    with pytest.raises(ValueError, match="base64 DER"):
        load_sendgrid_public_key("not a key")


# Mailgun


def test_mailgun_permanent_failure_is_a_hard_bounce_with_its_enhanced_code():
    payload = json.loads(mailgun_signed(fixture_json("mailgun_failed_permanent.json", token=TOKEN)))
    mailgun.verify(payload=payload, signing_key=MAILGUN_SIGNING_KEY, now=datetime.now(UTC))
    [event] = mailgun.parse(payload)
    assert (event.type, event.bounce_kind, event.status_code) == ("bounced", "hard", "5.1.1")
    assert (event.source_event_id, event.verp_token) == ("G9Bn5sl1TC6nu79C8C0bwg", TOKEN)
    assert event.message_id == "<20261123.abc123@example.com>"


def test_mailgun_temporary_failure_is_deferred_and_a_suppressed_address_is_dropped():
    payload = fixture_json("mailgun_failed_permanent.json", token=TOKEN)
    payload["event-data"]["severity"] = "temporary"
    assert mailgun.parse(payload)[0].type == "deferred"
    payload["event-data"] |= {"severity": "permanent", "reason": "suppress-bounce"}
    assert mailgun.parse(payload)[0].type == "dropped"


@pytest.mark.parametrize("forgery", ["wrong key", "old timestamp", "unsigned"])
def test_mailgun_forged_or_replayed_requests_are_refused(forgery: str):
    payload = fixture_json("mailgun_delivered.json", token=TOKEN)
    signed = json.loads(
        mailgun_signed(
            payload,
            key="another-key" if forgery == "wrong key" else MAILGUN_SIGNING_KEY,
            timestamp=int(time.time()) - 400 if forgery == "old timestamp" else None,
        )
    )
    if forgery == "unsigned":
        del signed["signature"]
    with pytest.raises(WebhookAuthError):
        mailgun.verify(payload=signed, signing_key=MAILGUN_SIGNING_KEY, now=datetime.now(UTC))


# Amazon SNS + SES


def _verifier(signer: SnsSigner, fetched: list[str]) -> sns.SnsVerifier:
    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return signer.certificate_pem

    return sns.SnsVerifier(fetch=fetch, topic_arns=frozenset({TOPIC_ARN}))


def _notification(signer: SnsSigner, name: str, *, version: str = "2") -> bytes:
    message = fixture_json("sns_notification.json") | {"SignatureVersion": version}
    message["Message"] = fixture_text(name, token=TOKEN, message_id="<inv-1@example.com>")
    return signer.sign(message, cert_url=CERT_URL)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_sns_signatures_of_both_versions_verify_with_the_certificate_fetched_once(version: str):
    signer, fetched = SnsSigner(), list[str]()
    verifier = _verifier(signer, fetched)
    for _ in range(2):
        await verifier.verify(sns.load_message(_notification(signer, "ses_bounce.json", version=version)),
                              now=datetime.now(UTC))  # fmt: skip
    assert fetched == [CERT_URL]


@pytest.mark.parametrize("forgery", ["altered message", "foreign topic", "certificate off AWS", "other key"])
async def test_sns_forgeries_are_refused(forgery: str):
    signer = SnsSigner()
    message = json.loads(_notification(SnsSigner() if forgery == "other key" else signer, "ses_bounce.json"))
    if forgery == "altered message":
        message["Message"] = message["Message"].replace("Permanent", "Transient")
    if forgery == "foreign topic":
        message["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    if forgery == "certificate off AWS":
        message = json.loads(signer.sign(message, cert_url="https://sns.eu-west-1.amazonaws.com.evil.example/c.pem"))
    with pytest.raises(WebhookAuthError):
        await _verifier(signer, []).verify(sns.load_message(json.dumps(message).encode()), now=datetime.now(UTC))


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem", True),
        ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/x.pem", False),
        ("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://user@sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com:8443/x.pem", False),
        ("http://127.0.0.1:8000/x.pem", False),
    ],
)
def test_only_https_sns_hosts_are_trusted_for_certificates(url: str, trusted: bool):
    assert sns.is_aws_sns_url(url) is trusted


def test_ses_bounce_names_its_delivery_by_our_header_and_message_id():
    message = sns.load_message(_notification(SnsSigner(), "ses_bounce.json"))
    [event] = ses.parse(message)
    assert (event.source, event.type, event.bounce_kind, event.status_code) == ("ses", "bounced", "hard", "5.1.1")
    assert (event.verp_token, event.message_id) == (TOKEN, "<inv-1@example.com>")
    assert (event.source_event_id or "").startswith(
        "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000:Bounce:"
    )
    assert event.diagnostic == "smtp; 550 5.1.1 user unknown"


def test_ses_delivery_gives_one_event_per_recipient_and_a_complaint_is_a_complaint():
    delivered = ses.parse(sns.load_message(_notification(SnsSigner(), "ses_delivery.json")))
    assert [(e.type, e.recipient) for e in delivered] == [
        ("delivered", "ap@acme.example"),
        ("delivered", "finance@acme.example"),
    ]
    [complaint] = ses.parse(sns.load_message(_notification(SnsSigner(), "ses_complaint.json")))
    assert (complaint.type, complaint.diagnostic) == ("complained", "abuse")


def test_an_sns_message_without_its_fields_is_a_format_error():
    with pytest.raises(WebhookFormatError):
        sns.load_message(b'{"Type": "Notification", "Message": "{}"}')
    message = json.loads(_notification(SnsSigner(), "ses_bounce.json"))
    message["Message"] = "{not json"
    with pytest.raises(WebhookFormatError):
        ses.parse(sns.load_message(json.dumps(message).encode()))
