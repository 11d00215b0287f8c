"""The Slack door's shape check accepts what Slack really sends, `null`s included."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from bot.slack_door import UnreadableSlackBody, check_slack_body

FORM = "application/x-www-form-urlencoded"

# A click as Slack sends it from a plain (non-Enterprise Grid) workspace.
CLICK: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "U1", "username": "alice", "team_id": "T1"},
    "api_app_id": "A1",
    "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1", "is_ephemeral": True},
    "trigger_id": "1.2.3",
    "team": {"id": "T1", "domain": "example"},
    "enterprise": None,
    "is_enterprise_install": False,
    "channel": {"id": "C1", "name": "finance"},
    "state": {"values": {}},
    "response_url": "https://hooks.slack.com/actions/T1/1/x",
    "actions": [{"action_id": "due_page", "block_id": "b", "value": "{}", "type": "button"}],
}
EVENT = {
    "type": "event_callback",
    "team_id": "T1",
    "event": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home", "view": None},
    "authorizations": [{"enterprise_id": None, "team_id": "T1", "user_id": "U0BOT", "is_bot": True}],
    "is_ext_shared_channel": False,
}


def test_real_slack_payloads_pass() -> None:
    check_slack_body(f"payload={quote(json.dumps(CLICK))}".encode(), FORM)
    check_slack_body(json.dumps(EVENT).encode(), "application/json")
    check_slack_body(b"command=%2Finvoices&text=due&response_url=https%3A%2F%2Fhooks.slack.com%2Fx", FORM)


@pytest.mark.parametrize(
    "change",
    [{"event": None}, {"actions": "click"}, {"actions": [1]}, {"response_urls": ["https://x"]}, {"team": 5}],
)
def test_payloads_bolt_would_crash_on_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(UnreadableSlackBody):
        check_slack_body(json.dumps(EVENT | change).encode(), "application/json")
