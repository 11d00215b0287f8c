"""The bounce mailbox as a port: what the bounce loop needs from wherever bounces arrive.

Two implementations answer it: the IMAP mailbox of production (bot/imap_mailbox.py) and the
demo's local folder (bot/sandbox/folder_mailbox.py). The loop (bot/bounce_mailbox.py) reads
either with the same code — parse, file as delivery events, commit, then mark seen — and one
contract suite (tests/mailbox/test_mailbox_contract.py) runs against both, like the email
transport's (services/email/transport.py).

Messages are numbered like IMAP UIDs: ascending in arrival order and stable within a connection.
"""

from __future__ import annotations

from typing import Protocol

SEEN = "\\Seen"
# RFC 2177: servers may drop an IDLE after 30 minutes of inactivity; an idle wait is renewed well before.
IDLE_RENEW_SECONDS = 25 * 60


class MailboxError(Exception):
    """The mailbox refused a command or did not answer (the reason, never a secret)."""


class LoginRefused(MailboxError):
    """Wrong user name or password: not retried within a poll (servers slow down repeat failures)."""


class MailboxConnection(Protocol):
    """One session with the mailbox; every call bounded in time by the implementation."""

    async def open(self) -> None: ...

    async def unseen(self) -> list[int]:
        """The unseen messages' numbers, oldest first."""
        ...

    async def fetch(self, uid: int, limit: int) -> bytes | None:
        """The first `limit` bytes of a message, without marking it seen; None when it is gone."""
        ...

    async def flag(self, uid: int, *flags: str) -> None:
        """Add flags; `SEEN` takes the message out of `unseen`."""
        ...

    async def move(self, uid: int, folder: str) -> None:
        """Move a message to `folder` where the mailbox can (else leave it, flagged)."""
        ...

    def offers_idle(self) -> bool:
        """Whether `idle_until_news` can wait for the server's push (IMAP IDLE)."""
        ...

    async def idle_until_news(self, seconds: float) -> bool:
        """Wait up to `seconds` for a new message; True when one was announced."""
        ...

    async def close(self) -> None: ...

    def abort(self) -> None:
        """Drop the connection at once, without a goodbye to the server. For shutdown: the loop
        must stop within its bound, and a connection that only waits (IDLE) holds nothing to save."""
        ...


class Mailbox(Protocol):
    """Where bounces arrive. `errors`: what this mailbox raises when it, not a message, fails."""

    @property
    def address(self) -> str:
        """Where it is, for the log (never a password)."""
        ...

    @property
    def errors(self) -> tuple[type[BaseException], ...]: ...

    def scrub(self, text: str) -> str:
        """`text` with the mailbox's secret hidden (a library may quote a whole command in an error)."""
        ...

    def connect(self, timeout: float) -> MailboxConnection: ...
