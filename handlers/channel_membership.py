"""Is the bot in this channel: the one `conversations.info` check behind the settings modal's inline
errors (handlers/settings.py) and `invoicebot doctor` / start-up (bot/slack_checks.py).

It lives in handlers/ because handlers may not import bot while bot may import handlers. It
answers what Slack said; each caller words it where its user is (a field error, a doctor line).
A call is bounded by `wait_seconds` (the settings modal must be answered within Slack's 3 s): a slow
Slack comes back as `timed_out`, never as an exception.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient


@dataclass(frozen=True)
class ChannelMembership:
    """What Slack said about `channel`: a refusal's code, an unreachable Slack, or the channel's state."""

    channel: str
    name: str = ""
    member: bool = False
    archived: bool = False
    refused: str | None = None  # Slack's error code (channel_not_found, missing_scope, …)
    unreachable: str | None = None  # no answer: the reason (a timeout included)
    timed_out: bool = False

    @property
    def label(self) -> str:
        return f"#{self.name}" if self.name else self.channel


async def channel_membership(
    client: AsyncWebClient, channel: str, *, wait_seconds: float | None = None
) -> ChannelMembership:
    """`conversations.info` for `channel` (needs channels:read, and groups:read for a private one)."""
    try:
        answer = await asyncio.wait_for(client.conversations_info(channel=channel), timeout=wait_seconds)
    except SlackApiError as exc:
        error = exc.response.get("error", "error") if exc.response is not None else "error"
        return ChannelMembership(channel, refused=str(error))
    except TimeoutError:
        return ChannelMembership(channel, unreachable=f"no answer within {wait_seconds:g} s", timed_out=True)
    except (SlackClientError, OSError) as exc:
        return ChannelMembership(channel, unreachable=str(exc))
    info = answer.get("channel") or {}
    return ChannelMembership(
        channel,
        name=str(info.get("name") or ""),
        member=bool(info.get("is_member")),
        archived=bool(info.get("is_archived")),
    )
