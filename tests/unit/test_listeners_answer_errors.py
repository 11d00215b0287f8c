"""Every Slack listener answers its errors the one way (handlers.errors.answering_errors).

An unwrapped listener lets an exception escape after its ack, which Bolt turns into a
timeout the person never understands; wrapping is what puts the sentence or reference id
where they are. Events (App Home) have no person waiting for an answer and are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import handlers

Listener = Callable[..., Any]


class RecordingApp:
    """Stands in for the Bolt app: records what `handlers.register` attaches, by kind."""

    def __init__(self) -> None:
        self.listeners: list[tuple[str, object, Listener]] = []

    def _recorder(self, kind: str, key: object) -> Callable[[Listener], Listener]:
        def record(listener: Listener) -> Listener:
            self.listeners.append((kind, key, listener))
            return listener

        return record

    def command(self, key: object, **_options: object) -> Callable[[Listener], Listener]:  # matchers=…
        return self._recorder("command", key)

    def action(self, key: object) -> Callable[[Listener], Listener]:
        return self._recorder("action", key)

    def view(self, key: object) -> Callable[[Listener], Listener]:
        return self._recorder("view", key)

    def event(self, key: object) -> Callable[[Listener], Listener]:
        return self._recorder("event", key)


def test_every_command_action_and_view_listener_answers_its_errors() -> None:
    app = RecordingApp()
    handlers.register(app)  # type: ignore[arg-type]
    answering = [item for item in app.listeners if item[0] != "event"]
    assert len(answering) >= 12
    unwrapped = [f"{kind} {key}: {fn.__name__}" for kind, key, fn in answering if not getattr(fn, "answers_errors", 0)]
    assert unwrapped == []
