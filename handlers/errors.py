"""The one mapping from an exception to what the user reads.

A `DomainError` is shown as its sentence. Anything else is logged with a short
reference id and the user gets that reference, never a traceback, token or secret.

Listeners are wrapped with `answering_errors`, because an exception that escapes a
listener *after* its ack makes Bolt (1.30, async, not process-before-response) reset the
ack it already holds: the HTTP answer then waits for the 3-second timeout and Slack
sees a 404. Errors raised before any listener runs reach the app's `@app.error`, which
uses the same `describe_error`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from handlers.blocks import escape
from services.errors import DomainError, log_unexpected

log = logging.getLogger("invoicebot.slack")
P = ParamSpec("P")


def explain_error(error: BaseException, *, mrkdwn: bool = True) -> tuple[str, str | None]:
    """What the user reads, and the reference of an unexpected error (None for a DomainError).

    A domain sentence may quote invoice fields or addresses, so it is escaped for mrkdwn
    (messages, sections); `mrkdwn=False` gives it as is for plain_text (modal field errors),
    which shows no markup and would print `&lt;` literally.
    """
    if isinstance(error, DomainError):
        return (escape(str(error), keep_user_mentions=True) if mrkdwn else str(error)), None
    reference = log_unexpected(error)
    return (
        f"Something went wrong on our side (reference {reference}). "
        "Please try again; if it happens again, give the reference to your admin."
    ), reference


def describe_error(error: BaseException) -> str:
    """The sentence for mrkdwn text (escaped)."""
    return explain_error(error)[0]


def describe_error_plain(error: BaseException) -> str:
    """The sentence for a plain_text place: a modal field error (`response_action: errors`)."""
    return explain_error(error, mrkdwn=False)[0]


def answering_errors(listener: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """Answer a listener's error ephemerally through `respond` (the listener must take it)."""

    @functools.wraps(listener)
    async def answered(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await listener(*args, **kwargs)
        except Exception as error:
            respond: Any = kwargs.get("respond")
            ack: Any = kwargs.get("ack")
            message = describe_error(error)
            if ack is not None and ack.response is None:
                await ack(response_type="ephemeral", text=message)
            elif respond is not None:
                await respond(response_type="ephemeral", replace_original=False, text=message)

    return answered
