"""Reading provider JSON defensively: every malformed field becomes a `WebhookFormatError`.

Provider payloads are read with these helpers rather than bare indexing so that a missing
or mistyped field is reported as "malformed webhook" (400), never as a server error (500).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.safe_json import UntrustedJsonError, load_untrusted_json
from services.tracking.webhooks.errors import WebhookFormatError

MAX_BODY_BYTES = 5 * 1024 * 1024


def load_json(body: bytes, provider: str) -> Any:
    """The decoded JSON body; refuses bodies over MAX_BODY_BYTES and anything not JSON within limits."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookFormatError(f"The {provider} webhook body is larger than {MAX_BODY_BYTES // 1024 // 1024} MB.")
    try:
        return load_untrusted_json(body)
    except UntrustedJsonError as exc:
        raise WebhookFormatError(f"The {provider} webhook body was refused: {exc}.") from exc


def as_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookFormatError(f"The webhook's {what} is not a JSON object.")
    return value


def text(data: dict[str, Any], key: str, what: str) -> str:
    """A required, non-empty string field."""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WebhookFormatError(f"The webhook's {what} has no {key!r}.")
    return value.strip()


def optional_text(data: dict[str, Any], key: str) -> str | None:
    """A string field, or None; numbers are accepted and written as text (codes, ids)."""
    value = data.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        return str(value).strip() or None
    return None


def iso_time(value: object, what: str) -> datetime:
    """An ISO 8601 time as aware UTC (`2019-11-05T16:33:54.9070259Z`, offsets allowed)."""
    if not isinstance(value, str):
        raise WebhookFormatError(f"The webhook's {what} is not a time.")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise WebhookFormatError(f"The webhook's {what} {value!r} is not an ISO 8601 time.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def unix_time(value: object, what: str) -> datetime:
    """Seconds since 1970 (an int, a float or a numeric string) as aware UTC."""
    try:
        seconds = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    except ValueError:
        seconds = None
    if seconds is None or not 0 <= seconds < 1e11:
        raise WebhookFormatError(f"The webhook's {what} is not a Unix time.")
    return datetime.fromtimestamp(seconds, tz=UTC)
