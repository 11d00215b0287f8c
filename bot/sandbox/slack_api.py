"""A stand-in for the Slack Web API, served over HTTP on 127.0.0.1.

The real `slack_sdk` client talks to it through `base_url`, so tests and the demo
exercise the same code path as production: authentication header, form or JSON
bodies, `ok`/`error` answers, 429 with `Retry-After`. Every call is recorded with its
parsed arguments (blocks and views decoded from JSON) so a test asserts on what Slack
*received*, and messages/views are kept so `chat.update` and `views.update` act on
something real. `response_url` posts land on `/response/<key>` and are recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.config import MANIFEST_BOT_SCOPES
from bot.sandbox.slack_files import FakeSlackFiles
from bot.sandbox.slack_oauth import FakeSlackOAuth
from bot.sandbox.slack_socket import FakeSocketMode
from bot.sandbox.waiting import wait_for_change

_JSON_FIELDS = ("blocks", "view", "attachments", "metadata")


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as Slack would have seen it."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass(frozen=True)
class ResponseUrlPost:
    """One post to a `response_url` (ephemeral reply, `replace_original`, …)."""

    key: str
    body: dict[str, Any]


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str | None = None  # set for ephemeral messages
    edits: int = 0


@dataclass
class SlackUser:
    id: str
    team_id: str
    name: str
    email: str


@dataclass
class SlackChannel:
    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False


# The bot scopes manifest.yml asks for: what a correctly installed app's token holds.
GRANTED_SCOPES = MANIFEST_BOT_SCOPES


@dataclass
class _Failure:
    remaining: int
    error: str
    retry_after: int | None


@dataclass
class FakeSlackApi:
    """The fake Web API. `start()` picks a free port; `base_url` is what the client needs."""

    token: str | None = None  # when set, calls without `Bearer <token>` get `invalid_auth`
    team_id: str = "T0OWN"
    team_name: str = "Example Trading"
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    host: str = "127.0.0.1"
    calls: list[RecordedCall] = field(default_factory=list)
    responses: list[ResponseUrlPost] = field(default_factory=list)
    messages: dict[str, list[StoredMessage]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)  # App Home tab, by user id
    users: dict[str, SlackUser] = field(default_factory=dict)
    channels: dict[str, SlackChannel] = field(default_factory=dict)
    scopes: tuple[str, ...] = GRANTED_SCOPES  # sent in the x-oauth-scopes header, as Slack does
    oauth: FakeSlackOAuth | None = None  # installing the app in many workspaces (bot/sandbox/slack_oauth.py)
    usergroups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # id → (handle, member ids)
    socket_mode: FakeSocketMode | None = None  # Socket Mode: apps.connections.open + WebSocket (slack_socket.py)
    files: FakeSlackFiles = field(default_factory=lambda: FakeSlackFiles(None))  # uploads (bot/sandbox/slack_files.py)
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _delays: dict[str, list[float]] = field(default_factory=dict)  # method → the next calls' delays, seconds
    _runner: web.AppRunner | None = None
    _port: int | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _ts_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        self.files.token = self.token
        self.files.attach(app)
        if self.oauth is not None:
            app.router.add_get("/oauth/v2/authorize", self.oauth.authorize)
        if self.socket_mode is not None:
            self.socket_mode.attach(app, lambda: self.base_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlackApi.start() has not been awaited")
        return f"http://{self.host}:{self._port}/api/"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url.removesuffix('/api/')}/oauth/v2/authorize"

    def response_url(self, key: str | None = None) -> str:
        """A `response_url` for a payload; posts to it are recorded under `key`."""
        return f"{self.base_url.removesuffix('/api/')}/response/{key or secrets.token_hex(6)}"

    # -- scripting ----------------------------------------------------------------------

    def add_user(self, user_id: str, *, email: str, team_id: str | None = None, name: str | None = None) -> SlackUser:
        user = SlackUser(id=user_id, team_id=team_id or self.team_id, name=name or user_id.lower(), email=email)
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, member: bool = True) -> SlackChannel:
        channel = SlackChannel(id=channel_id, name=name, is_member=member)
        self.channels[channel_id] = channel
        return channel

    def add_usergroup(self, group_id: str, *, handle: str, users: list[str]) -> None:
        self.usergroups[group_id] = (handle, list(users))

    def fail_next(
        self, method: str, *, times: int = 1, error: str = "ratelimited", retry_after: int | None = 1
    ) -> None:
        """The next `times` calls of `method` fail: `ratelimited` answers HTTP 429 + Retry-After."""
        self._failures.setdefault(method, []).append(_Failure(times, error, retry_after))

    def delay_next(self, method: str, *, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` answer only after `seconds` (a slow Slack)."""
        self._delays.setdefault(method, []).extend([seconds] * times)

    # -- reading what happened ----------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def responses_to(self, key: str) -> list[ResponseUrlPost]:
        return [post for post in self.responses if post.key == key]

    async def wait_until(self, condition: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait (bounded) until `condition()` holds; work after an ack arrives a little later."""
        await wait_for_change(condition, self._changed, within=within, what="the fake Slack API")

    # -- HTTP handlers ------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(ResponseUrlPost(key=request.match_info["key"], body=body))
        self._changed.set()
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _parse_args(request)
        token = _bearer(request) or args.pop("token", None)
        self.calls.append(RecordedCall(method=method, args=args, token=token))
        self._changed.set()
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))
        if self.oauth is not None and method == "oauth.v2.access":
            return web.json_response(self.oauth.access(request, args))
        if method == "apps.connections.open":  # app-level token, not the bot token
            if self.socket_mode is None:
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            return web.json_response(await self.socket_mode.open_connection(token))
        installed = self.oauth.workspace_of(token) if self.oauth is not None else None
        if self.token is not None and token != self.token and installed is None:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        scopes = {"x-oauth-scopes": ",".join(self.scopes)}
        if installed is not None and method == "auth.test" and self.oauth is not None:
            return web.json_response({"ok": True, **(self.oauth.auth_test(token) or {})}, headers=scopes)
        failure = self._take_failure(method)
        if failure is not None:
            if failure.error == "ratelimited":
                headers = {"Retry-After": str(1 if failure.retry_after is None else failure.retry_after)}
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
            return web.json_response({"ok": False, "error": failure.error}, headers=scopes)
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, headers=scopes)
        return web.json_response({"ok": True, **answer(args)}, headers=scopes)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    # -- methods (named after the Web API method, dots as underscores) -------------------

    def _auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_name.lower().replace(' ', '')}.slack.com/",
            "team": self.team_name,
            "user": "invoicebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        message = StoredMessage(channel, self._next_ts(), str(args.get("text", "")), list(args.get("blocks") or []))
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message.ts, "message": {"text": message.text, "blocks": message.blocks}}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        message = StoredMessage(
            channel, self._next_ts(), str(args.get("text", "")), list(args.get("blocks") or []), user=args.get("user")
        )
        self.messages.setdefault(channel, []).append(message)
        return {"message_ts": message.ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        for message in self.messages.get(channel, []):
            if message.ts == ts:
                message.text = str(args.get("text", message.text))
                message.blocks = list(args.get("blocks") or message.blocks)
                message.edits += 1
                return {"channel": channel, "ts": ts, "text": message.text}
        return {"ok": False, "error": "message_not_found"}

    def _open_view(self, view: dict[str, Any], *, root_id: str | None = None) -> dict[str, Any]:
        view_id = "V" + secrets.token_hex(5).upper()
        stored = {**view, "id": view_id, "hash": secrets.token_hex(8), "team_id": self.team_id}
        stored["root_view_id"] = root_id or view_id
        self.views[view_id] = stored
        return {"view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return self._open_view(dict(args.get("view") or {}))

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._views_open(args)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id", ""))
        current = self.views.get(view_id)
        if current is None:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        updated = {**dict(args.get("view") or {}), "id": view_id, "hash": secrets.token_hex(8)}
        updated["team_id"], updated["root_view_id"] = self.team_id, current["root_view_id"]
        self.views[view_id] = updated
        return {"view": updated}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id", ""))
        if not user_id:
            return {"ok": False, "error": "invalid_arguments"}
        view = {**dict(args.get("view") or {}), "id": "VH" + user_id, "team_id": self.team_id}
        self.home_views[user_id] = view
        return {"view": view}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {
            "user": {
                "id": user.id,
                "team_id": user.team_id,
                "name": user.name,
                "profile": {"email": user.email, "real_name": user.name},
            }
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_member": channel.is_member,
                "is_archived": channel.is_archived,
            }
        }

    def _users_profile_get(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"profile": {"email": user.email, "real_name": user.name}}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.files.info(args, lambda: self.base_url)

    def _usergroups_list(self, _args: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"id": gid, "handle": handle, "user_count": len(users)} for gid, (handle, users) in self.usergroups.items()
        ]
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"users": list(group[1])}


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() or None if header.startswith("Bearer ") else None


async def _parse_args(request: web.Request) -> dict[str, Any]:
    """Query string, form fields and JSON body merged; JSON-in-a-field values decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for name in _JSON_FIELDS:
        if isinstance(args.get(name), str):
            with contextlib.suppress(ValueError):
                args[name] = json.loads(args[name])
    return args
