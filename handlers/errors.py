"""The one mapping from an exception to what the user reads.

A `DomainError` is shown as its sentence. Anything else is logged with a short
reference id and the user gets that reference, never a traceback, token or secret.

Every listener (command, action, view submission) is wrapped with `answering_errors`,
the one way to answer an error where the person is (an ephemeral message, a modal, or a
field of a submission), because an exception that escapes a listener *after* its ack
makes Bolt (1.30, async, not process-before-response) reset the ack it already holds:
the HTTP answer then waits for the 3-second timeout and Slack sees a 404. Errors raised
before any listener runs reach the app's `@app.error`, which uses the same `explain_error`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, overload

from slack_sdk.errors import SlackApiError

from handlers.blocks.elements import clip, escape
from handlers.blocks.review import View, message_view
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


def error_view(title: str, error: BaseException, *, nothing_done: str = "") -> View:
    """A modal that says why the work stopped (and, when given, that nothing was done)."""
    text = f"⚠️ {describe_error(error)}" + (f"\n{escape(nothing_done)}" if nothing_done else "")
    return message_view(title, text)


@dataclass(frozen=True)
class InView:
    """The person is looking at a modal: the error replaces its content (the submitted or clicked view)."""

    title: str
    nothing_done: str = ""


@dataclass(frozen=True)
class OnField:
    """A submission not yet answered: the error is shown under this input block, the modal stays as typed."""

    block_id: str


Place = InView | OnField | None  # None: an ephemeral message where the person clicked or typed


async def answer_error(error: BaseException, where: Place, kwargs: dict[str, Any]) -> None:
    """Tell the person about `error` where they are: the ack when it is still unsent, else after it."""
    ack: Any = kwargs.get("ack")
    body: dict[str, Any] = kwargs.get("body") or {}
    submission = body.get("type") == "view_submission"
    unanswered = ack is not None and ack.response is None
    if unanswered and submission and isinstance(where, OnField):
        await ack(response_action="errors", errors={where.block_id: clip(describe_error_plain(error), 300)})
    elif unanswered and submission and isinstance(where, InView):
        await ack(response_action="update", view=error_view(where.title, error, nothing_done=where.nothing_done))
    elif unanswered:
        await ack(response_type="ephemeral", text=describe_error(error))
    else:
        await _answer_after_ack(error, where, body, kwargs)


async def _answer_after_ack(error: BaseException, where: Place, body: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """The ack is spent: the modal the person looks at (InView), else an ephemeral message via `respond`."""
    submission = body.get("type") == "view_submission"
    respond: Any = kwargs.get("respond")
    view = body.get("view") or {}
    client: Any = kwargs.get("client")
    if isinstance(where, InView) and view.get("id") and client is not None:
        shown = error_view(where.title, error, nothing_done=where.nothing_done)
        same = {} if submission else {"hash": view.get("hash")}  # a submission's view was replaced by its ack
        try:
            await client.views_update(view_id=view["id"], view=shown, **same)
        except SlackApiError as failed:
            log.warning("views.update with an error failed: %s", failed.response.get("error"))
    elif respond is not None:
        await respond(response_type="ephemeral", replace_original=False, text=describe_error(error))


Listener = Callable[P, Awaitable[None]]


@overload
def answering_errors(listener: Listener[P], /) -> Listener[P]: ...
@overload
def answering_errors(*, where: Place) -> Callable[[Listener[P]], Listener[P]]: ...
def answering_errors(
    listener: Listener[P] | None = None, /, *, where: Place = None
) -> Listener[P] | Callable[[Listener[P]], Listener[P]]:
    """The one way a listener answers an error: wrap it, and say where the person is (`where`).

    A `DomainError` becomes its sentence, anything else a reference id (`explain_error`),
    shown in the place the person is looking at: the field of a submission not yet
    answered (`OnField`), the modal (`InView`), else an ephemeral message (the ack when
    it was not sent yet, else `respond`). Every Slack listener is wrapped (a test checks).
    """

    def wrap(inner: Listener[P]) -> Listener[P]:
        @functools.wraps(inner)
        async def answered(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                await inner(*args, **kwargs)
            except Exception as error:
                await answer_error(error, where, dict(kwargs))

        answered.answers_errors = True  # type: ignore[attr-defined]
        return answered

    return wrap(listener) if listener is not None else wrap
