"""The Bolt app: built once from settings-derived values, with its middleware and error mapping.

Order of the middleware (after Bolt's own signature check and `auth.test` authorisation):
1. a Slack retry (`X-Slack-Retry-Num`) is acked and dropped: the first delivery did the work,
   and doing it again could act twice;
2. a user or team other than this installation's workspace is refused (shared channels);
3. the listener's context gets a session factory (for reads), the unit-of-work factory
   `units` (for use cases, services.use_cases), the `Workplace` (organisation, sending
   state, today) and the `SendPolicy` with its `SendContext`, which Bolt injects by
   keyword. Both come from the organisation's settings, asked of an `OrganisationDirectory`
   for the request's workspace (bot/organisation_settings.py), never from the global settings.
One `@app.error` turns a `DomainError` into its sentence, ephemeral, and logs anything else
with a reference id the user can quote (never a token or secret); listeners answer their
own errors the same way (`handlers.errors`, which explains why Bolt needs that).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

import handlers
from bot.organisation_settings import OrganisationDirectory, OrganisationSettings
from bot.slack_door import VERIFIED_BY_DOOR
from handlers.context import SessionFactory, Workplace
from handlers.errors import explain_error
from handlers.home_refresh import HomeViewers
from handlers.review_policy import SendPolicy
from services.clock import utcnow
from services.invoicing.organisations import organisation_locale
from services.sending.context import SendContext
from services.unit_of_work import units_over

log = logging.getLogger("invoicebot.slack")

Next = Callable[[], Awaitable[BoltResponse | None]]
Ack = Callable[..., Awaitable[BoltResponse]]

FOREIGN_WORKSPACE = (
    "Sorry, this invoicebot belongs to another workspace: only its own members can use it. Nothing was changed."
)


def teams_in(body: Mapping[str, Any]) -> set[str]:
    """Every workspace id a request claims to come from: the team and, in shared channels, the user's."""
    found = {body.get("team_id")}
    team, user = body.get("team"), body.get("user")
    if isinstance(team, Mapping):
        found.add(team.get("id"))
    if isinstance(user, Mapping):
        found.add(user.get("team_id"))
    found.add(body.get("user_team_id"))
    return {str(team_id) for team_id in found if team_id}


@dataclass(frozen=True)
class ListenerNeeds:
    """What the listeners are handed, beyond the request: sessions, the organisation, the VERP secret."""

    sessions: SessionFactory
    organisations: OrganisationDirectory
    verp_secret: bytes = field(repr=False)
    public_url: str
    preview_link_minutes: int = 15
    home_viewers: HomeViewers | None = None  # this process's App Home refresher (debounces from an opening)
    now: Callable[[], datetime] = utcnow  # the clock a request's "today" is read from (tests move it)

    def send_policy(self, organisation: OrganisationSettings) -> SendPolicy:
        secret = self.verp_secret
        return SendPolicy(
            send=SendContext(
                rules=organisation.rules,
                message_id_domain=organisation.message_id_domain,
                verp_secret=lambda: secret,
            ),
            public_url=self.public_url,
            approvers_channel=organisation.channels.approvals,
            preview_link_minutes=self.preview_link_minutes,
        )


def create_slack_app(
    *,
    signing_secret: str,
    auth: str | AsyncOAuthSettings,
    api_url: str,
    needs: ListenerNeeds,
    today: Callable[[], date] | None = None,
    logger: logging.Logger | None = None,
) -> AsyncApp:
    """The Bolt app for one workspace (`auth` its bot token), or for every workspace that installs
    it (`auth` Bolt's OAuth settings, bot/workspaces.py), talking to the Web API at `api_url`."""
    oauth = auth if isinstance(auth, AsyncOAuthSettings) else None
    # Bolt builds its client from the token. Handing it a `client` instead makes it also read
    # SLACK_BOT_TOKEN from the environment and log "As you gave `client` as well, `token` will be
    # unused" whenever that is set; so it gets the token, and its client the API root and retries.
    app = AsyncApp(
        signing_secret=signing_secret,
        token=None if oauth is not None else str(auth),
        logger=logger or log,
        oauth_settings=oauth,
    )
    app.client.base_url = api_url
    app.client.retry_handlers = [AsyncRateLimitErrorRetryHandler(max_retry_count=2)]

    async def drop_slack_retries(req: AsyncBoltRequest, ack: Ack, next: Next) -> BoltResponse | None:
        # Socket Mode sends `retry_attempt: 0` with a first delivery, which Bolt mirrors as the header "0".
        retry = req.headers.get("x-slack-retry-num") or ["0"]
        if retry[0] not in ("", "0"):
            return await ack()
        return await next()

    async def own_workspace_only(body: dict[str, Any], context: AsyncBoltContext, ack: Ack, next: Next) -> Any:
        home = context.authorize_result.team_id if context.authorize_result else None
        claimed = teams_in(body)
        if home and claimed and claimed != {home}:
            log.warning("refused a request from workspace(s) %s", ", ".join(sorted(claimed - {home})))
            return await ack(response_type="ephemeral", text=FOREIGN_WORKSPACE)
        return await next()

    async def provide_workplace(context: AsyncBoltContext, next: Next) -> BoltResponse | None:
        # Multi-workspace (issue 17): an org-wide Enterprise Grid install is one organisation, keyed by
        # its enterprise id; otherwise the team. One workspace: is_enterprise_install is False.
        team_id = context.enterprise_id if context.is_enterprise_install else context.team_id
        async with needs.sessions() as session:
            # Loading the row refreshes the cached settings when an admin changed them (any process).
            organisation = await needs.organisations.organisation(session, team_id)
            settings = needs.organisations.settings_for(team_id)
            workplace = Workplace(
                organisation_id=organisation.id,
                sending=settings.sending_state(organisation),
                today=today() if today is not None else settings.local_today(needs.now()),  # a test pins it
                locale=organisation_locale(organisation),
            )
        context["sessions"] = needs.sessions
        context["units"] = units
        context["workplace"] = workplace
        context["send_policy"] = needs.send_policy(settings)
        context["home_viewers"] = needs.home_viewers
        return await next()

    units = units_over(needs.sessions)

    app.use(drop_slack_retries)
    app.use(own_workspace_only)
    app.use(provide_workplace)

    @app.error
    async def answer_errors(error: Exception, respond: Any, request: AsyncBoltRequest) -> BoltResponse | None:
        message, reference = explain_error(error)
        # `respond` posts to the body's response_url: only ever one Slack signed (bot/slack_door.py).
        trusted = request.mode == "socket_mode" or request.context.get(VERIFIED_BY_DOOR) is True
        if respond is not None and trusted:
            await respond(response_type="ephemeral", replace_original=False, text=message)
        return BoltResponse(status=500, body=f"error ref {reference}") if reference else None

    handlers.register(app)
    return app


class SlackNotConfigured(Exception):
    """The Slack tokens are missing; the message names the settings to set."""
