"""`POST /slack/events`: verify first, then act.

Bolt parses the body (and builds `respond()` from its `response_url`) before its own
signature middleware runs, and a malformed timestamp makes that middleware raise, so the
app's error handler would answer an unauthenticated request by POSTing to a URL the
stranger chose. This door therefore runs, in order and before Bolt sees anything:

1. the body is read up to `SLACK_MAX_BODY_BYTES` (413 past it; Slack's payloads are a few kB);
2. the signature headers must be well-formed (`X-Slack-Request-Timestamp` digits,
   `X-Slack-Signature` `v0=` and 64 hex digits) and the signature valid and fresh
   (`slack_sdk.signature.SignatureVerifier`, 5 minutes): otherwise 401, nothing logged
   but the refusal, nothing called, nothing written;
3. the verified (UTF-8) body must be something Bolt can parse: at most
   `SLACK_MAX_FORM_FIELDS` form fields, and JSON (a JSON body or the `payload=` field)
   that is an object within `services.safe_json`'s limits: otherwise 400.
Only then does Bolt dispatch, with `VERIFIED_BY_DOOR` in the request context; Bolt's own
signature check still runs (it agrees), and the app's error handler only answers through
`respond()` when that mark is present (bot/app.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from services.safe_json import UntrustedJsonError, load_untrusted_object
from web.doors import MIB, BodyTooLarge, read_bounded_body, too_large

log = logging.getLogger("invoicebot.slack")

SLACK_MAX_BODY_BYTES = 1 * MIB
SLACK_MAX_FORM_FIELDS = 64  # a slash command has about 15; an interaction is one `payload`
VERIFIED_BY_DOOR = "invoicebot_signature_verified"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


# The fields Bolt's own code reads assuming Slack's shapes (context ids, self-event filter,
# listener matching): a signed body with another shape there is refused rather than crash Bolt.
# Slack itself sends `null` for some (`"enterprise": null` in every click of a plain workspace).
_NULL = type(None)
_SLACK_SHAPES: dict[str, tuple[type, ...]] = {
    "event": (dict,),
    "user": (dict, str, _NULL),
    "team": (dict, str, _NULL),
    "enterprise": (dict, str, _NULL),
    "channel": (dict, str, _NULL),
    "view": (dict, _NULL),
    "container": (dict, _NULL),
    "message": (dict, _NULL),
    "previous_message": (dict, _NULL),
    "state": (dict, _NULL),
    "authorizations": (list, _NULL),
    "actions": (list,),
    "response_urls": (list,),
}
_LISTS_OF_OBJECTS = ("authorizations", "actions", "response_urls")


def _has_slack_shape(payload: dict[str, object]) -> bool:
    for key, types in _SLACK_SHAPES.items():
        if key in payload and not isinstance(payload[key], types):
            return False
    for key in _LISTS_OF_OBJECTS:
        items = payload.get(key)
        if isinstance(items, list) and not all(isinstance(item, dict) for item in items):
            return False
    event = payload.get("event")
    return not isinstance(event, dict) or all(
        isinstance(event.get(key), types) for key, types in _SLACK_SHAPES.items() if key in event
    )


class UnreadableSlackBody(Exception):
    """A verified body Bolt could not parse safely; the message says why (a 400)."""


def signature_is_valid(verifier: SignatureVerifier, *, body: bytes, timestamp: str, signature: str) -> bool:
    """True only for well-formed headers whose signature matches this body within 5 minutes."""
    if _TIMESTAMP.fullmatch(timestamp) is None or _SIGNATURE.fullmatch(signature) is None:
        return False
    try:
        text = body.decode()  # the verifier would decode it and raise: Slack only sends UTF-8
    except UnicodeDecodeError:
        return False
    return verifier.is_valid(body=text, timestamp=timestamp, signature=signature)


def check_slack_body(body: bytes, content_type: str) -> None:
    """Raise UnreadableSlackBody unless Bolt's parser will read this body without surprise."""
    text = body.decode()  # signature_is_valid refused anything else
    try:
        # Bolt's own rule (slack_bolt.request.internals.parse_body), made safe.
        if content_type.split(";")[0].strip() == "application/json" or text.startswith("{"):
            payload = load_untrusted_object(text)
        else:
            fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=SLACK_MAX_FORM_FIELDS))
            if "payload" not in text or "payload" not in fields:
                return
            payload = load_untrusted_object(fields["payload"])
    except UntrustedJsonError as exc:
        raise UnreadableSlackBody(f"The Slack payload was refused: {exc}.") from None
    except ValueError:  # parse_qsl: too many fields
        raise UnreadableSlackBody(f"The request has more than {SLACK_MAX_FORM_FIELDS} form fields.") from None
    if not _has_slack_shape(payload):
        raise UnreadableSlackBody("The Slack payload does not have Slack's shape.")


def slack_events_endpoint(slack_app: AsyncApp, *, signing_secret: str) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for Slack's requests (commands, actions, views, events)."""
    verifier = SignatureVerifier(signing_secret=signing_secret)

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_bounded_body(request, SLACK_MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            log.warning("refused a Slack request: body over %s bytes", exc.limit)
            return too_large(exc)
        verified = signature_is_valid(
            verifier,
            body=body,
            timestamp=request.headers.get("x-slack-request-timestamp", ""),
            signature=request.headers.get("x-slack-signature", ""),
        )
        if not verified:
            log.warning("refused a Slack request: missing, malformed, stale or wrong signature")
            return PlainTextResponse("Invalid request signature.", status_code=401)
        try:
            check_slack_body(body, request.headers.get("content-type", ""))
        except UnreadableSlackBody as exc:
            log.warning("refused a signed Slack request: %s", exc)
            return PlainTextResponse(str(exc), status_code=400)
        try:
            bolt_request = to_async_bolt_request(request, body, {VERIFIED_BY_DOOR: True})
        except (AttributeError, TypeError, KeyError, IndexError):  # Bolt reads ids assuming Slack's shapes
            log.warning("refused a signed Slack request: its payload does not have Slack's shape")
            return PlainTextResponse("The Slack payload does not have Slack's shape.", status_code=400)
        return to_starlette_response(await slack_app.async_dispatch(bolt_request))

    return slack_events
