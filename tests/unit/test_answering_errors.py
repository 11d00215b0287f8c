"""Where `answering_errors` says what went wrong: the field, the modal, or an ephemeral message."""

from __future__ import annotations

from typing import Any

from handlers.errors import InView, OnField, answering_errors
from services.errors import InvalidInput


class Recorder:
    """Stands in for Bolt's ack / respond and the Web API client: records each call's arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.response: object | None = None  # Bolt's ack keeps its answer here once sent

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        self.response = kwargs

    async def views_update(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


SUBMISSION = {"type": "view_submission", "view": {"id": "V1", "hash": "h1"}}
CLICK_IN_MODAL = {"type": "block_actions", "view": {"id": "V2", "hash": "h2"}}


async def test_a_refused_submission_is_shown_on_its_field_as_plain_text() -> None:
    @answering_errors(where=OnField("to_block"))
    async def listener(ack: Any, body: dict[str, Any]) -> None:
        raise InvalidInput("Acme <ap@acme> is not an address.")

    ack = Recorder()
    await listener(ack=ack, body=SUBMISSION)
    assert ack.calls == [{"response_action": "errors", "errors": {"to_block": "Acme <ap@acme> is not an address."}}]


async def test_a_submission_refused_in_view_replaces_the_modal_and_says_nothing_was_done() -> None:
    @answering_errors(where=InView("Send all", nothing_done="Nothing was sent."))
    async def listener(ack: Any, body: dict[str, Any]) -> None:
        raise InvalidInput("Too many.")

    ack = Recorder()
    await listener(ack=ack, body=SUBMISSION)
    (answer,) = ack.calls
    assert answer["response_action"] == "update"
    assert answer["view"]["blocks"][0]["text"]["text"] == "⚠️ Too many.\nNothing was sent."


async def test_after_the_ack_a_click_in_a_modal_updates_that_modal() -> None:
    @answering_errors(where=InView("Send invoice"))
    async def listener(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        raise RuntimeError("database down")

    ack, client = Recorder(), Recorder()
    await listener(ack=ack, body=CLICK_IN_MODAL, client=client)
    (update,) = client.calls
    assert update["view_id"] == "V2" and update["hash"] == "h2"
    assert "reference" in update["view"]["blocks"][0]["text"]["text"]
    assert "database down" not in str(update)


async def test_elsewhere_the_error_is_ephemeral_in_the_ack_or_after_it() -> None:
    @answering_errors
    async def before(ack: Any, respond: Any) -> None:
        raise InvalidInput("No such invoice.")

    @answering_errors
    async def after(ack: Any, respond: Any) -> None:
        await ack()
        raise InvalidInput("No such invoice.")

    ack, respond = Recorder(), Recorder()
    await before(ack=ack, respond=respond)
    assert ack.calls == [{"response_type": "ephemeral", "text": "No such invoice."}] and respond.calls == []
    ack, respond = Recorder(), Recorder()
    await after(ack=ack, respond=respond)
    assert respond.calls == [{"response_type": "ephemeral", "replace_original": False, "text": "No such invoice."}]
