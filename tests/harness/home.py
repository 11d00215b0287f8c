"""Reading App Home as a person does: open it through the real web app, read a section."""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from tests.harness.reading import texts


async def open_home(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> dict[str, Any]:
    published = len(fake_slack.calls_to("views.publish"))
    response = await slack.event({"type": "app_home_opened", "user": user.id, "tab": "home"})
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.publish")) > published)
    return fake_slack.home_views[user.id]


def section_after(view: dict[str, Any], heading: str) -> list[str]:
    """What a person reads under `heading`, up to the next heading."""
    read: list[str] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == heading
            continue
        if inside:
            read.extend(texts([block]))
    return read
