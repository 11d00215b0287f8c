"""DKIM signing (optional) for teams whose relay does not sign: dkimpy over the finished message bytes.

The signature is added where the message is finalised (`services.sending.pipeline.render_message`,
in the render processes), after which nothing may change a signed header or the body. The key
is read once at start-up (bot/organisation_settings.py) and travels as bytes in the render job.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

# Headers a receiver shows or trusts; the body hash covers the rest. Absent ones are signed as
# absent, so nobody can add them later (RFC 6376 §8.15 "oversigning" of From is included).
SIGNED_HEADERS = (b"from", b"to", b"cc", b"reply-to", b"subject", b"date", b"message-id", b"mime-version")


@dataclass(frozen=True)
class DkimKey:
    """Sign as `domain` with the key published at `<selector>._domainkey.<domain>` (PEM, RSA or Ed25519)."""

    selector: str
    domain: str
    private_pem: bytes = field(repr=False)
    public_key_b64: str  # the p= value the DNS record must carry
    algorithm: bytes = b"rsa-sha256"


def load_dkim_key(path: str, *, selector: str, domain: str) -> DkimKey:
    """The key at `path`, checked once (parsing an RSA key costs ~0.1 s: never per message)."""
    pem = read_private_key(path)
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return DkimKey(selector, domain, pem, base64.b64encode(raw).decode("ascii"), b"ed25519-sha256")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return DkimKey(selector, domain, pem, base64.b64encode(der).decode("ascii"))


def read_private_key(path: str) -> bytes:
    """The PEM at `path`, checked to be an unencrypted RSA (≥ 1024 bits) or Ed25519 key; ValueError says why not."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such file")
    pem = file.read_bytes()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
        raise ValueError(f"{path}: an RSA key of {key.key_size} bits is too short (use 2048)")
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path}: DKIM needs an RSA or Ed25519 key")
    return pem


def sign_message(message: bytes, key: DkimKey) -> bytes:
    """`message` (CRLF bytes) with a DKIM-Signature header in front (relaxed/relaxed canonicalisation)."""
    signature = dkim.sign(
        message,
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        key.private_pem,
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=key.algorithm,
        include_headers=list(SIGNED_HEADERS),
        linesep=b"\r\n",
    )
    return bytes(signature) + message
