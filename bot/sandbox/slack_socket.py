"""Slack's Socket Mode, served by the fake Slack (bot/sandbox/slack_api.py) on 127.0.0.1.

A team without a public URL runs the app in Socket Mode: the app calls `apps.connections.open`
with its app-level token (`xapp-…`), gets a one-use WebSocket URL, and Slack pushes what it
would have POSTed as envelopes. This stand-in behaves as Slack does, so `slack_sdk`'s real
client (through Bolt's AsyncSocketModeHandler) is what gets exercised:

- each connection first receives `hello`; then `slash_commands`, `interactive` and
  `events_api` envelopes (`envelope_id`, `payload`, `accepts_response_payload`,
  `retry_attempt`, `retry_reason`);
- an envelope must be acked (`{"envelope_id": …, "payload": …}`) within `ack_timeout`
  seconds, or it is delivered again with `retry_attempt` + 1 (at most `max_retries` times);
  every ack and its payload (a slash command's ack can carry the reply) is recorded;
- `drop()` ends the connection (a `disconnect` message, or a hard close), and `hold()` keeps
  `apps.connections.open` from answering, so a test can send while the app is offline:
  envelopes wait for the next connection, as Slack queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from aiohttp import WSMsgType, web

from bot.sandbox.slack_requests import SlackRequests
from bot.sandbox.waiting import wait_for_change

OPEN_HOLD_LIMIT_SECONDS = 10.0  # a held `apps.connections.open` answers at the latest after this


@dataclass
class Envelope:
    """One delivery Slack owes the app, until it is acked."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    acked: bool = False

    def message(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": "timeout" if self.retry_attempt else "",
        }


@dataclass(frozen=True)
class Ack:
    """What the app answered to one envelope (`payload` None when it acked with nothing)."""

    envelope_id: str
    payload: dict[str, Any] | None


@dataclass
class FakeSocketMode:
    """Socket Mode for one app-level token; attach it to a FakeSlackApi (`socket_mode=`)."""

    app_token: str  # the `xapp-…` token `apps.connections.open` accepts
    ack_timeout: float = 3.0
    max_retries: int = 3
    envelopes: list[Envelope] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # every envelope message sent, in order
    acks: list[Ack] = field(default_factory=list)
    opened: int = 0  # answered `apps.connections.open` calls
    connections: int = 0  # WebSocket connections that received `hello`
    _base_url: Callable[[], str] | None = None
    _tickets: set[str] = field(default_factory=set)
    _live: web.WebSocketResponse | None = None
    _may_open: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _timers: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._may_open.set()

    def attach(self, app: web.Application, base_url: Callable[[], str]) -> None:
        """Serve the WebSocket endpoint on the fake Slack's server (`base_url` is its API root)."""
        self._base_url = base_url
        app.router.add_get("/link/", self._websocket)
        app.on_shutdown.append(self._shutdown)

    # -- apps.connections.open ----------------------------------------------------------

    async def open_connection(self, token: str | None) -> dict[str, Any]:
        """The answer to `apps.connections.open`: a one-use `ws://` URL, for the app-level token only."""
        if token is None or not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._may_open.wait(), timeout=OPEN_HOLD_LIMIT_SECONDS)
        assert self._base_url is not None
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        self.opened += 1
        self._changed.set()
        root = self._base_url().removesuffix("/api/").replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{root}/link/?ticket={ticket}&app_id=A0INVOICEBOT"}

    def hold(self) -> None:
        """`apps.connections.open` waits (bounded) until `release()`: the app stays offline."""
        self._may_open.clear()

    def release(self) -> None:
        self._may_open.set()

    # -- sending what Slack would POST --------------------------------------------------

    async def command(self, body: str, *, team_id: str | None = None) -> str:
        """A slash command, `body` as bot/sandbox/slack_requests.slash_command_body builds it;
        `team_id`: the workspace it comes from (one connection serves every installed workspace)."""
        payload = dict(parse_qsl(body)) | ({"team_id": team_id} if team_id else {})
        return await self.send("slash_commands", payload, accepts_response_payload=True)

    async def interaction(self, body: str, *, team_id: str | None = None) -> str:
        """A click or submission, `body` as block_actions_body / view_submission_body build it."""
        payload = json.loads(dict(parse_qsl(body))["payload"])
        if team_id:
            payload["team"] = {**(payload.get("team") or {}), "id": team_id}
        return await self.send("interactive", payload, accepts_response_payload=True)

    async def event(self, body: str, *, team_id: str | None = None) -> str:
        """An Events API callback, `body` as event_body builds it (JSON), with the `authorizations`
        Slack adds: the installation (workspace) the event is delivered for."""
        payload = json.loads(body)
        team = team_id or payload.get("team_id")
        payload["team_id"] = team
        payload.setdefault(
            "authorizations",
            [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": "U0BOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        )
        return await self.send("events_api", payload, accepts_response_payload=False)

    async def send(self, kind: str, payload: Mapping[str, Any], *, accepts_response_payload: bool) -> str:
        """Queue an envelope and deliver it now if the app is connected; returns its envelope id."""
        envelope = Envelope(secrets.token_hex(16), kind, dict(payload), accepts_response_payload)
        self.envelopes.append(envelope)
        await self._deliver(envelope)
        return envelope.envelope_id

    async def redeliver(self, envelope_id: str) -> None:
        """Deliver an envelope again with `retry_attempt` + 1, as Slack does when an ack came late."""
        [envelope] = [e for e in self.envelopes if e.envelope_id == envelope_id]
        envelope.retry_attempt += 1
        envelope.acked = False
        await self._deliver(envelope)

    # -- connection control -------------------------------------------------------------

    async def drop(self, *, hard: bool = False) -> None:
        """End the live connection: Slack's `disconnect` message (the client re-opens at once),
        or a hard close of the WebSocket. Either way, what follows waits for a new connection."""
        live, self._live = self._live, None
        if live is None:
            return
        if not hard:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await live.send_json({"type": "disconnect", "reason": "refresh_requested", "debug_info": {}})
        await live.close()

    # -- reading what happened ----------------------------------------------------------

    def acked(self, envelope_id: str) -> Ack | None:
        return next((ack for ack in self.acks if ack.envelope_id == envelope_id), None)

    def delivered(self, envelope_id: str) -> list[dict[str, Any]]:
        return [message for message in self.deliveries if message["envelope_id"] == envelope_id]

    async def wait_until(self, condition: Callable[[], bool], *, within: float = 10.0) -> None:
        """Wait (bounded) until `condition()` holds."""
        await wait_for_change(condition, self._changed, within=within, what="the fake Slack's Socket Mode")

    async def wait_acked(self, envelope_id: str, *, within: float = 10.0) -> Ack:
        await self.wait_until(lambda: self.acked(envelope_id) is not None, within=within)
        ack = self.acked(envelope_id)
        assert ack is not None
        return ack

    # -- the WebSocket ------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        previous, self._live = self._live, ws
        if previous is not None:
            await previous.close()
        self.connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0INVOICEBOT"},
            }
        )
        self._changed.set()
        for envelope in [e for e in self.envelopes if not e.acked]:
            if self.delivered(envelope.envelope_id):
                envelope.retry_attempt += 1  # sent on a connection that ended before the ack
            await self._deliver(envelope)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self._take_ack(json.loads(message.data))
        if self._live is ws:
            self._live = None
        return ws

    def _take_ack(self, data: dict[str, Any]) -> None:
        envelope = next((e for e in self.envelopes if e.envelope_id == data.get("envelope_id")), None)
        if envelope is None:
            return
        envelope.acked = True
        self.acks.append(Ack(envelope.envelope_id, data.get("payload")))
        self._changed.set()

    async def _deliver(self, envelope: Envelope) -> None:
        live = self._live
        if live is None or live.closed:
            return  # delivered when the app connects again
        message = envelope.message()
        try:
            await live.send_json(message)
        except (ConnectionError, RuntimeError):
            return
        self.deliveries.append(message)
        self._changed.set()
        timer = asyncio.create_task(self._redeliver_unless_acked(envelope, envelope.retry_attempt))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _redeliver_unless_acked(self, envelope: Envelope, attempt: int) -> None:
        await asyncio.sleep(self.ack_timeout)
        if envelope.acked or envelope.retry_attempt != attempt or attempt >= self.max_retries:
            return
        envelope.retry_attempt += 1
        await self._deliver(envelope)

    async def _shutdown(self, _app: web.Application) -> None:
        for timer in list(self._timers):
            timer.cancel()
        self._may_open.set()
        if self._live is not None:
            await self._live.close()


class SocketRequestClient(SlackRequests):
    """The clicks, commands and submissions of `SlackRequests`, delivered over Socket Mode instead of
    POSTed: each body becomes the envelope Slack would push, and the answer is built from the app's
    ack (its payload as the JSON body, as the HTTP answer would have carried it). Nothing goes over
    HTTP, so it holds no HTTP client."""

    def __init__(self, socket_mode: FakeSocketMode, *, ack_within: float = 10.0) -> None:
        self.socket_mode = socket_mode
        self.ack_within = ack_within

    async def post(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        if body.startswith("{"):
            envelope_id = await self.socket_mode.event(body)
        elif body.startswith("payload="):
            envelope_id = await self.socket_mode.interaction(body)
        else:
            envelope_id = await self.socket_mode.command(body)
        ack = await self.socket_mode.wait_acked(envelope_id, within=self.ack_within)
        if ack.payload is None:
            return httpx.Response(200)
        return httpx.Response(200, json=ack.payload)
