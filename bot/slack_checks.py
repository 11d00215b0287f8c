"""Is the Slack side set up: the token works, the manifest's scopes are granted, the channels exist
and the bot is in them, and Slack can reach the app (Socket Mode's app-level token opens a
connection, or a public URL is set). Used by `invoicebot doctor` and at the start of `run` / `web`.

Slack says which scopes a token holds in the `x-oauth-scopes` header of every Web API answer;
`auth.test` is the cheapest call that carries it. A channel is checked with `conversations.info`
through handlers.channel_membership, the settings modal's check too (needs channels:read, and
groups:read for a private channel: both are in manifest.yml).
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config import MANIFEST_BOT_SCOPES
from bot.organisation_settings import SlackChannels
from handlers.channel_membership import channel_membership
from services.checks import Check, failed, passed

log = logging.getLogger("invoicebot.slack")

# The bot scopes manifest.yml asks for (a test keeps the two lists equal).

REINSTALL = "add it under OAuth & Permissions (or recreate the app from manifest.yml) and reinstall the app"
SOCKET_MODE = "Slack Socket Mode"
SOCKET_MODE_FIX = (
    "at api.slack.com/apps → your app → Basic Information → App-Level Tokens, generate a token with the "
    "connections:write scope, turn Socket Mode on, and set SLACK_APP_TOKEN to it (xapp-…)"
)


class SlackTokenRefused(Exception):
    """Slack refused SLACK_BOT_TOKEN, or could not be reached; the message is one line."""


async def authenticate(client: AsyncWebClient) -> AsyncSlackResponse:
    """`auth.test`, or SlackTokenRefused saying why in one line."""
    try:
        return await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error") if exc.response is not None else "error"
        raise SlackTokenRefused(
            f"Slack refused SLACK_BOT_TOKEN ({error}): copy the Bot User OAuth Token again"
        ) from None
    except (SlackClientError, OSError) as exc:
        raise SlackTokenRefused(f"could not reach Slack at {client.base_url}: {exc}") from None


def token_check(auth: AsyncSlackResponse) -> Check:
    return passed("Slack token", f"bot {auth.get('user')} in workspace {auth.get('team')} ({auth.get('team_id')})")


def scopes_check(auth: AsyncSlackResponse, required: tuple[str, ...] = MANIFEST_BOT_SCOPES) -> Check:
    header = next((value for key, value in auth.headers.items() if key.lower() == "x-oauth-scopes"), None)
    if header is None:
        return failed("Slack scopes", "Slack did not say which scopes the token has", f"check them: {REINSTALL}")
    granted = {scope.strip() for scope in str(header).split(",") if scope.strip()}
    missing = [scope for scope in required if scope not in granted]
    if missing:
        return failed("Slack scopes", f"missing {', '.join(missing)}", f"grant {', '.join(missing)}: {REINSTALL}")
    return passed("Slack scopes", ", ".join(required))


async def channel_check(client: AsyncWebClient, *, title: str, variable: str, channel: str | None) -> Check:
    """The channel exists, is not archived, and the bot is a member of it."""
    if not channel:
        return failed(
            title, f"{variable} is not set", f"set {variable} to a channel ID (C…), or alerts and requests go nowhere"
        )
    found = await channel_membership(client, channel)
    if found.refused == "missing_scope":
        return failed(title, "the token may not read channels", f"grant channels:read and groups:read: {REINSTALL}")
    if found.refused is not None:
        return failed(
            title,
            f"{channel}: {found.refused}",
            f"set {variable} to the channel's ID (channel details → bottom of the About tab), "
            "and invite the bot there with /invite @invoicebot",
        )
    if found.unreachable is not None:
        return failed(
            title, f"could not ask Slack about {channel}: {found.unreachable}", "check that Slack can be reached"
        )
    name = found.label
    if found.archived:
        return failed(title, f"{name} is archived", f"unarchive {name} or set {variable} to another channel")
    if not found.member:
        return failed(title, f"the bot is not in {name}", f"invite it: type /invite @invoicebot in {name}")
    return passed(title, f"{name}, the bot is a member")


async def socket_mode_check(client: AsyncWebClient, app_token: str | None, *, public_url: str | None) -> Check:
    """With SLACK_APP_TOKEN: `apps.connections.open` accepts it (what Socket Mode does first). Without
    it Slack must POST to the app, which needs a public URL (`public_url` None: none was set)."""
    if app_token is None:
        if public_url is not None:
            return passed(SOCKET_MODE, f"off (SLACK_APP_TOKEN is not set): Slack posts to {public_url}/slack/events")
        return failed(
            SOCKET_MODE,
            "off (SLACK_APP_TOKEN is not set) and INVOICEBOT_PUBLIC_URL is not set: Slack cannot reach the app",
            f"for Socket Mode (no public URL needed): {SOCKET_MODE_FIX}; "
            "or set INVOICEBOT_PUBLIC_URL to the https address Slack posts to",
        )
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = exc.response.get("error", "error") if exc.response is not None else "error"
        detail = f"Slack refused SLACK_APP_TOKEN ({error})"
        if app_token.startswith("xox"):
            detail += f": {app_token[:4]}… is a bot or user token, not an app-level token (xapp-…)"
        return failed(SOCKET_MODE, detail, SOCKET_MODE_FIX)
    except (SlackClientError, OSError) as exc:
        return failed(
            SOCKET_MODE, f"could not reach Slack at {client.base_url}: {exc}", "check that Slack can be reached"
        )
    return passed(SOCKET_MODE, "on: SLACK_APP_TOKEN opens a connection (apps.connections.open)")


async def slack_checks(client: AsyncWebClient, channels: SlackChannels) -> list[Check]:
    """Token, scopes, and the notification and approval channels (the approvals' only when it differs)."""
    try:
        auth = await authenticate(client)
    except SlackTokenRefused as exc:
        return [failed("Slack token", str(exc), "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)")]
    checks = [token_check(auth), scopes_check(auth)]
    checks.append(
        await channel_check(
            client, title="Notification channel", variable="INVOICEBOT_NOTIFY_CHANNEL", channel=channels.notify
        )
    )
    if channels.approvers and channels.approvers != channels.notify:
        checks.append(
            await channel_check(
                client, title="Approval channel", variable="INVOICEBOT_APPROVERS_CHANNEL", channel=channels.approvers
            )
        )
    return checks


async def check_slack_at_start(client: AsyncWebClient, channels: SlackChannels, *, app_token: str | None) -> None:
    """`run` / `web`: refuse a bot token, or in Socket Mode an app token, that Slack refuses
    (SlackTokenRefused, one line); warn about everything else."""
    checks = await slack_checks(client, channels)
    if not checks[0].ok:
        raise SlackTokenRefused(checks[0].detail)
    if app_token is not None:
        socket_mode = await socket_mode_check(client, app_token, public_url=None)
        if not socket_mode.ok:
            raise SlackTokenRefused(f"{socket_mode.detail}: {socket_mode.fix}")
        log.info("Slack: Socket Mode, the app-level token is accepted")
    log.info("Slack: %s", checks[0].detail)
    for check in checks[1:]:
        if not check.ok:
            log.warning("%s: %s. %s", check.title, check.detail, (check.fix or "").capitalize())
