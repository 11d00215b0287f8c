"""Slack's side of installing an app, for the stand-in Web API (bot/sandbox/slack_api.py).

`GET /oauth/v2/authorize` is the page where a person picks a workspace and clicks *Allow*:
here the workspace is `installing` (or the `team` query parameter), and the answer is a
redirect to the app's `redirect_uri` with a one-use `code` and the app's `state` (or
`error=access_denied` after `deny_next()`). `oauth.v2.access` checks the client id and
secret sent as HTTP Basic, exchanges a code for a bot token (rotating tokens come with a
refresh token and `expires_in`), and with `grant_type=refresh_token` issues a new token.
Tokens belong to one workspace: `auth.test` and every post are answered as that workspace.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

APP_ID = "A0INVOICEBOT"
INSTALLER = "U0INSTALLER"


@dataclass(frozen=True)
class FakeWorkspace:
    """A workspace that can install the app; `org_wide`: an Enterprise Grid org-wide install."""

    team_id: str | None
    team_name: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    org_wide: bool = False

    @property
    def key(self) -> str:
        return str(self.enterprise_id if self.org_wide else self.team_id)

    def owners(self) -> dict[str, Any]:
        team = None if self.org_wide else {"id": self.team_id, "name": self.team_name}
        enterprise = {"id": self.enterprise_id, "name": self.enterprise_name} if self.enterprise_id else None
        return {"team": team, "enterprise": enterprise, "is_enterprise_install": self.org_wide}


@dataclass
class FakeSlackOAuth:
    """The app's credentials as Slack knows them, the installable workspaces and the tokens issued."""

    client_id: str
    client_secret: str
    rotating: bool = True
    expires_in: int = 43_200  # what Slack gives a rotating token: 12 hours
    workspaces: dict[str, FakeWorkspace] = field(default_factory=dict)
    installing: str | None = None
    codes: dict[str, str] = field(default_factory=dict)  # code -> workspace key, one use
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> workspace key
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    refreshes: list[str] = field(default_factory=list)  # the workspace of each refresh, in order
    _deny_next: bool = False
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_workspace(self, workspace: FakeWorkspace) -> FakeWorkspace:
        self.workspaces[workspace.key] = workspace
        self.installing = self.installing or workspace.key
        return workspace

    def deny_next(self) -> None:
        self._deny_next = True

    def revoke(self, key: str) -> None:
        """The workspace uninstalled the app: its tokens stop working."""
        for table in (self.tokens, self.refresh_tokens):
            for token in [token for token, owner in table.items() if owner == key]:
                del table[token]

    def workspace_of(self, token: str | None) -> FakeWorkspace | None:
        key = self.tokens.get(token or "")
        return self.workspaces.get(key) if key else None

    def tokens_of(self, key: str) -> list[str]:
        return [token for token, owner in self.tokens.items() if owner == key]

    # -- HTTP -----------------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return web.Response(status=400, text="Invalid client_id parameter")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return web.Response(status=400, text="Missing redirect_uri")
        answer: dict[str, str] = {"state": query.get("state", "")}
        key = query.get("team") or self.installing
        if self._deny_next or key not in self.workspaces:
            self._deny_next = False
            answer["error"] = "access_denied"
        else:
            code = f"code-{secrets.token_hex(8)}"
            self.codes[code] = str(key)
            answer["code"] = code
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    def access(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        """`oauth.v2.access`: a code (install) or a refresh token (rotation) for a bot token."""
        if _basic(request) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            key = self.refresh_tokens.pop(str(args.get("refresh_token", "")), None)
            if key is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            self.refreshes.append(key)
            return {"ok": True, "token_type": "bot", **self._issue(key)}
        key = self.codes.pop(str(args.get("code", "")), None)
        if key is None:
            return {"ok": False, "error": "invalid_code"}
        workspace = self.workspaces[key]
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": INSTALLER},
            "scope": "commands,chat:write,users:read",
            "token_type": "bot",
            "bot_user_id": f"UBOT{key}",
            **workspace.owners(),
            **self._issue(key),
        }

    def auth_test(self, token: str | None) -> dict[str, Any] | None:
        workspace = self.workspace_of(token)
        if workspace is None:
            return None
        return {
            "url": f"https://{workspace.team_name.lower().replace(' ', '')}.slack.com/",
            "team": workspace.team_name,
            "team_id": workspace.team_id,
            "enterprise_id": workspace.enterprise_id,
            "user_id": f"UBOT{workspace.key}",
            "bot_id": f"B{workspace.key}",
            "is_enterprise_install": workspace.org_wide,
        }

    def _issue(self, key: str) -> dict[str, Any]:
        serial = next(self._serial)
        if not self.rotating:
            token = f"xoxb-{key}-{serial}-{secrets.token_hex(6)}"
            self.tokens[token] = key
            return {"access_token": token}
        token, refresh = f"xoxe.xoxb-{key}-{serial}-{secrets.token_hex(6)}", f"xoxe-1-{key}-{secrets.token_hex(8)}"
        self.tokens[token] = key
        self.refresh_tokens[refresh] = key
        return {"access_token": token, "refresh_token": refresh, "expires_in": self.expires_in}


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return None
    return user, password
