"""Loading providers' verification keys from settings, so a bad key fails at start-up."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key


def load_sendgrid_public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key as its settings page shows it (base64 DER, ECDSA P-256).

    Raises ValueError with a sentence naming what is wrong.
    """
    try:
        key = load_der_public_key(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the SendGrid verification key is not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the SendGrid verification key is not an ECDSA P-256 key")
    return key
