"""The console's App Home: `home` opens the tab as the current demo user (a signed `app_home_opened`,
as Slack sends when a person clicks the app), and a republished view is shown as it changes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequests, SlackUserRef

PUBLISH_WAIT_SECONDS = 5.0


class HomePanel:
    """Which App Homes the console showed, so a republish is shown once, as "updated"."""

    def __init__(self, api: FakeSlackApi) -> None:
        self.api = api
        self._shown: dict[str, str] = {}  # user id → the view last shown (JSON)

    async def open(self, requests: SlackRequests | None, user: SlackUserRef) -> dict[str, Any] | None:
        """Open App Home as `user`; the view the app published, or None if none came (bounded wait)."""
        assert requests is not None  # the demo is running
        published = len(self.api.calls_to("views.publish"))
        await requests.event({"type": "app_home_opened", "user": user.id, "tab": "home"}, team_id=user.team_id)
        with contextlib.suppress(TimeoutError):
            await self.api.wait_until(
                lambda: len(self.api.calls_to("views.publish")) > published, within=PUBLISH_WAIT_SECONDS
            )
        view = self.api.home_views.get(user.id)
        if view is not None:
            self._shown[user.id] = json.dumps(view, sort_keys=True)
        return view

    def changed(self, user_id: str) -> dict[str, Any] | None:
        """The user's App Home if it was opened here and the app republished it since it was shown."""
        view = self.api.home_views.get(user_id)
        if user_id not in self._shown or view is None:
            return None
        now = json.dumps(view, sort_keys=True)
        if now == self._shown[user_id]:
            return None
        self._shown[user_id] = now
        return view
