"""Answer a modal submission within Slack's 3 seconds, then finish the work and show its end.

Slack gives a submission 3 seconds; a big bulk or a stalled database takes longer, and a
late answer is shown as a failure although the work goes on. So a submission checks what
needs no database, acks with a "⏳ working" view (`response_action: update`), and only
then calls its service; the outcome (or the refusal, with a way back) replaces the
working view through `views.update` with the submitted view's id. Bolt (async, not
process-before-response) sends the HTTP answer as soon as `ack` is called and runs the
rest of the listener in the background, so nothing here may raise after the ack.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.review import View, working_view
from handlers.errors import error_view

log = logging.getLogger("invoicebot.slack")

__all__ = ["finish_in_view", "working_view"]


async def finish_in_view(
    client: AsyncWebClient, *, view_id: str, title: str, outcome: Awaitable[View], nothing_done: str
) -> None:
    """Replace the working view `view_id` with the view `outcome` builds.

    An error while building it is shown in the view (its sentence, or a reference id)
    followed by `nothing_done`, so the person is never left looking at "⏳" forever.
    """
    try:
        view = await outcome
    except Exception as error:  # after the ack the view is the only place left to say it
        view = error_view(title, error, nothing_done=nothing_done)
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as error:  # the work is done and saved; only the modal could not be told
        log.warning("views.update after a submission failed: %s", error.response.get("error"))
