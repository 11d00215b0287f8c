"""Test keys for each provider, signing exactly as the providers document, and the fixtures.

SendGrid: a generated ECDSA P-256 key. Mailgun: a test signing key. SNS: a generated RSA
key and a self-signed certificate, served by `AwsStandIn` on 127.0.0.1 with the
SubscribeURL it records. The Postmark webhook's Basic credentials are here too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.runner import bound_port
from services.tracking.webhooks.sns import NOTIFICATION
from tests.harness.servers import start_server, stop_server

POSTMARK_USER, POSTMARK_PASSWORD = "postmark-hooks", "pm-password-0123"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
MAILGUN_SIGNING_KEY = "key-test-mailgun-signing-0123456789abcdef"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:invoicebot-ses"


def fixture_text(name: str, **values: str) -> str:
    """A fixture file with `{{name}}` placeholders filled (values escaped for a JSON string)."""
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", json.dumps(value)[1:-1])
    return text


def fixture_json(name: str, **values: str) -> Any:
    return json.loads(fixture_text(name, **values))


class SendGridSigner:
    """Signs `timestamp + body` with a fresh P-256 key, as SendGrid's Signed Event Webhook does."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_base64 = base64.b64encode(der).decode()

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def mailgun_signed(payload: dict[str, Any], *, key: str = MAILGUN_SIGNING_KEY, timestamp: int | None = None) -> bytes:
    """The payload with `signature` filled in: hex HMAC-SHA256(key, timestamp + token)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = payload["signature"]["token"]
    digest = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
    return json.dumps(payload).encode()


class SnsSigner:
    """A generated RSA key and self-signed certificate standing in for SNS's."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
        now = datetime.now(UTC)
        self.certificate_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.private_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    def sign(self, message: dict[str, Any], *, cert_url: str) -> bytes:
        """The message with SigningCertURL and Signature set, signed by its SignatureVersion."""
        message["SigningCertURL"] = cert_url
        if message["Type"] == NOTIFICATION:
            keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        canonical = "".join(f"{key}\n{message[key]}\n" for key in keys if key in message).encode()
        algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303 - SNS v1
        signature = self.private_key.sign(canonical, padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return json.dumps(message).encode()


class AwsStandIn:
    """Serves the SNS certificate and records SubscribeURL visits, on 127.0.0.1."""

    def __init__(self, certificate_pem: bytes) -> None:
        self.certificate_pem = certificate_pem
        self.confirmations: list[dict[str, str]] = []
        self.certificate_fetches = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.base_url = ""

    async def _certificate(self, _request: Request) -> Response:
        self.certificate_fetches += 1
        return Response(self.certificate_pem, media_type="application/x-pem-file")

    async def _confirm(self, request: Request) -> Response:
        self.confirmations.append(dict(request.query_params))
        return PlainTextResponse("<ConfirmSubscriptionResponse/>")

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/SimpleNotificationService-test.pem"

    def trusts(self, url: str) -> bool:
        return url.startswith(f"{self.base_url}/")

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/SimpleNotificationService-test.pem", self._certificate),
                Route("/", self._confirm),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = await start_server(self._server)
        self.base_url = f"http://127.0.0.1:{bound_port(self._server)}"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            await stop_server(self._server, self._task)
