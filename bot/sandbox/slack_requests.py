"""What Slack sends to the app: signed slash commands, button clicks and modal submissions.

Bodies are form-encoded exactly as Slack encodes them (`payload=<json>` for interactivity)
and signed with Slack's v0 scheme, which `slack_sdk.signature.SignatureVerifier` checks:
`"v0=" + HMAC_SHA256(secret, "v0:{timestamp}:{body}")`. `SlackRequestClient` posts them
to the running web app, so a test or the demo goes through signature checks, Bolt and
our handlers exactly as a real workspace would.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier


def sign(*, signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or ""}


@dataclass(frozen=True)
class SlackUserRef:
    """Who clicks: a user id and the workspace they belong to (differs in shared channels)."""

    id: str = "U123"
    team_id: str = "T0OWN"
    name: str = "alice"


@dataclass(frozen=True, kw_only=True)
class RequestOrigin:
    """Where a request comes from: the channel, the workspace (None: the user's own) and the trigger id
    (None: a fresh one, as Slack gives every interaction)."""

    channel_id: str = "C0FINANCE"
    team_id: str | None = None
    trigger_id: str | None = None

    @classmethod
    def taken_from(cls, options: dict[str, Any]) -> RequestOrigin:
        """The origin named by `channel_id=` / `team_id=` / `trigger_id=` in `options` (removed from it)."""
        return cls(**{name: options.pop(name) for name in ("channel_id", "team_id", "trigger_id") if name in options})


def slash_command_body(
    *,
    text: str,
    user: SlackUserRef,
    response_url: str,
    command: str = "/invoices",
    origin: RequestOrigin = RequestOrigin(),
) -> str:
    channel_id, team_id, trigger_id = origin.channel_id, origin.team_id, origin.trigger_id
    fields = {
        "token": "deprecated-verification-token",
        "team_id": team_id or user.team_id,
        "team_domain": "example",
        "channel_id": channel_id,
        "channel_name": "finance",
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": "A0INVOICEBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{secrets.randbelow(10**12)}.{secrets.token_hex(8)}",
    }
    return urlencode(fields)


def block_actions_body(
    *,
    action: Mapping[str, Any],
    user: SlackUserRef,
    response_url: str,
    message_ts: str = "1700000000.000100",
    origin: RequestOrigin = RequestOrigin(),
) -> str:
    """One click. `action` is the element as it appears in `actions[]` (action_id, block_id, value …)."""
    channel_id, team_id, trigger_id = origin.channel_id, origin.team_id, origin.trigger_id
    payload = {
        "type": "block_actions",
        "team": {"id": team_id or user.team_id, "domain": "example"},
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id},
        "api_app_id": "A0INVOICEBOT",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": True},
        "trigger_id": trigger_id or f"{secrets.randbelow(10**12)}.{secrets.token_hex(8)}",
        "channel": {"id": channel_id, "name": "finance"},
        "response_url": response_url,
        "actions": [{"action_ts": f"{time.time():.6f}", **action}],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    *,
    view: Mapping[str, Any],
    values: Mapping[str, Mapping[str, Any]],
    user: SlackUserRef,
    team_id: str | None = None,
) -> str:
    """A modal's *Submit*. `view` is the view as Slack stored it (its `type` is required by Bolt)."""
    submitted = {"type": "modal", **view, "state": {"values": dict(values)}}
    payload = {
        "type": "view_submission",
        "team": {"id": team_id or user.team_id, "domain": "example"},
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id},
        "api_app_id": "A0INVOICEBOT",
        "token": "deprecated-verification-token",
        "trigger_id": f"{secrets.randbelow(10**12)}.{secrets.token_hex(8)}",
        "view": submitted,
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})


def event_body(*, event: Mapping[str, Any], team_id: str = "T0OWN", api_app_id: str = "A0INVOICEBOT") -> str:
    """An Events API `event_callback` (JSON), e.g. `{"type": "app_home_opened", "user": "U1", "tab": "home"}`."""
    payload = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": "Ev" + str(int(time.time() * 1000)),
        "event_time": int(time.time()),
    }
    return json.dumps(payload)


class SlackRequests(ABC):
    """What a person does in Slack (commands, clicks, submissions, events) as the bodies Slack sends;
    how they reach the app is `post`'s: signed HTTP (`SlackRequestClient`) or Socket Mode envelopes
    (bot/sandbox/slack_socket.py's `SocketRequestClient`). Answers come back as HTTP responses."""

    @abstractmethod
    async def post(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response: ...

    async def command(self, text: str, *, user: SlackUserRef, response_url: str, **options: Any) -> httpx.Response:
        headers = options.pop("headers", None)
        origin = RequestOrigin.taken_from(options)
        return await self.post(
            slash_command_body(text=text, user=user, response_url=response_url, origin=origin, **options),
            headers=headers,
        )

    async def click(
        self, action: Mapping[str, Any], *, user: SlackUserRef, response_url: str, **options: Any
    ) -> httpx.Response:
        headers = options.pop("headers", None)
        origin = RequestOrigin.taken_from(options)
        return await self.post(
            block_actions_body(action=action, user=user, response_url=response_url, origin=origin, **options),
            headers=headers,
        )

    async def event(self, event: Mapping[str, Any], *, team_id: str = "T0OWN") -> httpx.Response:
        return await self.post(event_body(event=event, team_id=team_id), headers={"Content-Type": "application/json"})

    async def submit(
        self, view: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]], *, user: SlackUserRef
    ) -> httpx.Response:
        return await self.post(view_submission_body(view=view, values=values, user=user))


@dataclass
class SlackRequestClient(SlackRequests):
    """Posts signed Slack requests to the app's `/slack/events` and returns the HTTP response."""

    events_url: str
    signing_secret: str
    http: httpx.AsyncClient

    async def post(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        sent = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            sent |= sign(signing_secret=signing_secret or self.signing_secret, body=body, timestamp=timestamp)
        sent |= dict(headers or {})
        return await self.http.post(self.events_url, content=body.encode(), headers=sent)


def button_click(element: Mapping[str, Any], *, block_id: str) -> dict[str, Any]:
    """The `actions[]` entry Slack sends when `element` (a button from our blocks) is clicked."""
    return {
        "type": "button",
        "action_id": element["action_id"],
        "block_id": block_id,
        "text": element.get("text", {}),
        "value": element.get("value", ""),
    }


def overflow_choice(element: Mapping[str, Any], *, block_id: str, option_value: str) -> dict[str, Any]:
    """The `actions[]` entry for choosing one option of an overflow menu from our blocks."""
    [option] = [o for o in element["options"] if o["value"] == option_value]
    return {"type": "overflow", "action_id": element["action_id"], "block_id": block_id, "selected_option": option}
