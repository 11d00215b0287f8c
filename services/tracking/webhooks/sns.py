"""Amazon SNS HTTP(S) messages: their shape, their signature, and subscription confirmation.

SNS signs a canonical string of the message's fields ("Key\\nvalue\\n" pairs in a fixed
order) with RSA PKCS#1 v1.5: SHA-1 for `SignatureVersion` "1", SHA-256 for "2". The public
key is in the X.509 certificate at `SigningCertURL`, which must be an `https://sns.<region>.
amazonaws.com/….pem` URL or anyone could sign with their own certificate. How certificates
are fetched and which URLs are trusted are injected (`SnsVerifier`), so tests can serve a
generated certificate on 127.0.0.1; production uses `is_aws_sns_url`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.tracking.webhooks.errors import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.fields import as_object, load_json, optional_text, text

Fetch = Callable[[str], Awaitable[bytes]]
"""GET a URL and return its body; raises any exception on failure (the caller refuses)."""

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_AWS_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_MAX_CACHED_CERTIFICATES = 16


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """An SNS message as posted to our endpoint; `fields` keeps the signed values verbatim."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signature_version: str
    signature: str
    signing_cert_url: str
    subscribe_url: str | None
    fields: dict[str, str]

    def canonical_string(self) -> bytes:
        """The bytes SNS signed (its documented field order per message type)."""
        if self.type == NOTIFICATION:
            keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        return "".join(f"{key}\n{self.fields[key]}\n" for key in keys if key in self.fields).encode()


def load_message(body: bytes) -> SnsMessage:
    """The SNS message in a request body; WebhookFormatError when fields are missing."""
    data = as_object(load_json(body, "Amazon SNS"), "SNS message")
    kind = text(data, "Type", "SNS message")
    if kind not in (NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION):
        raise WebhookFormatError(f"The SNS message type {kind!r} is not one SNS sends.")
    signed = {key: value for key, value in data.items() if isinstance(value, str)}
    if kind != NOTIFICATION and ("Token" not in signed or "SubscribeURL" not in signed):
        raise WebhookFormatError("The SNS subscription message has no 'Token' or 'SubscribeURL'.")
    if "Message" not in signed:
        raise WebhookFormatError("The SNS message has no 'Message'.")
    return SnsMessage(
        type=kind,
        message_id=text(data, "MessageId", "SNS message"),
        topic_arn=text(data, "TopicArn", "SNS message"),
        message=signed["Message"],
        timestamp=text(data, "Timestamp", "SNS message"),
        signature_version=text(data, "SignatureVersion", "SNS message"),
        signature=text(data, "Signature", "SNS message"),
        signing_cert_url=text(data, "SigningCertURL", "SNS message"),
        subscribe_url=optional_text(data, "SubscribeURL"),
        fields=signed,
    )


def is_aws_sns_url(url: str) -> bool:
    """True for `https://sns.<region>.amazonaws.com/…` (no credentials, default port) only."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port in (None, 443)
        and parts.username is None
        and _AWS_SNS_HOST.match(parts.hostname or "") is not None
    )


@dataclass
class SnsVerifier:
    """Checks SNS signatures; caches certificates by URL (SNS rotates them rarely).

    `topic_arns`: only messages from these topics are accepted (anyone can create an SNS
    topic and point it at our URL). `trusts_url` decides which certificate and subscribe
    URLs may be fetched.
    """

    fetch: Fetch
    topic_arns: frozenset[str]
    trusts_url: Callable[[str], bool] = is_aws_sns_url
    _certificates: dict[str, x509.Certificate] = field(default_factory=dict)

    async def verify(self, message: SnsMessage, *, now: datetime) -> None:
        """Raise WebhookAuthError unless AWS signed this message for one of our topics."""
        if message.topic_arn not in self.topic_arns:
            raise WebhookAuthError(f"The SNS topic {message.topic_arn!r} is not one this bot subscribes to.")
        algorithm = _HASHES.get(message.signature_version)
        if algorithm is None:
            raise WebhookAuthError(f"SNS signature version {message.signature_version!r} is not supported.")
        public_key = (await self._certificate(message.signing_cert_url, now=now)).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise WebhookAuthError("The SNS signing certificate does not hold an RSA key.")
        try:
            signature = base64.b64decode(message.signature, validate=True)
            public_key.verify(signature, message.canonical_string(), padding.PKCS1v15(), algorithm())
        except (ValueError, InvalidSignature) as exc:  # ValueError: not base64 (binascii.Error) or not ASCII
            raise WebhookAuthError("The SNS message's signature does not match its content.") from exc

    async def confirm_subscription(self, message: SnsMessage) -> None:
        """GET the SubscribeURL of a *verified* SubscriptionConfirmation, as SNS asks."""
        url = message.subscribe_url
        if message.type != SUBSCRIPTION_CONFIRMATION or not url:
            return
        if not self.trusts_url(url):
            raise WebhookAuthError("The SNS SubscribeURL is not an Amazon SNS address.")
        await self.fetch(url)

    async def _certificate(self, url: str, *, now: datetime) -> x509.Certificate:
        if not self.trusts_url(url):
            raise WebhookAuthError("The SNS signing certificate URL is not an Amazon SNS address.")
        certificate = self._certificates.get(url)
        if certificate is None:
            try:
                certificate = x509.load_pem_x509_certificate(await self.fetch(url))
            except Exception as exc:  # any network or parse failure means: cannot authenticate
                raise WebhookAuthError("The SNS signing certificate could not be fetched or read.") from exc
            if len(self._certificates) >= _MAX_CACHED_CERTIFICATES:
                self._certificates.pop(next(iter(self._certificates)))
            self._certificates[url] = certificate
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise WebhookAuthError("The SNS signing certificate has expired or is not yet valid.")
        return certificate
