"""Fixtures for the real mail stack: a relay that refuses every recipient, Postfix, Dovecot.

The stack starts once per test session (it takes about a quarter of a second) and every
test gets an empty bounce mailbox with Dovecot running. Without Postfix and Dovecot
installed (or without root) every test here is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.harness.mailstack import MailStack, free_port, missing_requirements, port_is_open


class RefusingRelay:
    """The customer's mail server: it knows no one at bounce.example (550 5.1.1 at RCPT)."""

    def __init__(self, *, port: int) -> None:
        self.port = port
        self.refused: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.refused.append(address)
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"


@pytest.fixture(scope="session")
def refusing_relay() -> Iterator[RefusingRelay]:
    reason = missing_requirements()
    if reason:
        pytest.skip(f"real mail stack unavailable: {reason}")
    handler = RefusingRelay(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, server_hostname="mx.customer.test")
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture(scope="session")
def running_stack(refusing_relay: RefusingRelay) -> Iterator[MailStack]:
    stack = MailStack.create(relay_port=refusing_relay.port)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        stack.remove()


@pytest.fixture
def mailstack(running_stack: MailStack) -> MailStack:
    """The stack with Dovecot up and an empty bounce mailbox (Dovecot notices the removals)."""
    for folder in [running_stack.maildir, *running_stack.maildir.glob(".*/")]:
        for sub in ("cur", "new", "tmp"):
            for entry in (folder / sub).glob("*"):
                entry.unlink()
    if not port_is_open(running_stack.imap_port):
        running_stack.start_dovecot()
    return running_stack
