"""The bounce mailbox over IMAP: the production implementation of bot/mailbox_port.py.

`ImapMailbox` is the account (from the settings, once) and `ImapConnection` the few IMAP
commands the bounce loop needs, each bounded by a timeout and checked: UNSEEN search,
`BODY.PEEK` fetch (never sets \\Seen), flag, MOVE (creating the folder on TRYCREATE), and
IDLE (RFC 2177) so a bounce is filed within seconds of arriving. aioimaplib has no
STARTTLS, so the transport is upgraded under its protocol. Errors never carry the password:
`scrub` hides it from an error's text before anything logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aioimaplib import IMAP4, IMAP4_SSL, STOP_WAIT_SERVER_PUSH, AioImapException

from bot.config import Settings
from bot.mailbox_port import LoginRefused, MailboxError

log = logging.getLogger("bot.bounce_mailbox")  # one log for the bounce mailbox, loop and IMAP alike

# How long the end of an IDLE waits for the server to confirm DONE. The IDLE runs on a connection
# of its own, closed right after, so nothing is lost by not waiting longer; waiting the full
# command timeout (30 s) held up a stopping process that long when the confirmation was slow.
DONE_GRACE_SECONDS = 2.0
# An IDLE session reports flag changes and the like too; stop listening after this many.
_MAX_PUSHES_PER_IDLE = 1000


class ImapError(MailboxError):
    """The mailbox server refused a command or did not answer (the reason, no secrets)."""


class ImapLoginRefused(ImapError, LoginRefused):
    """The server refused the user name or password."""


@dataclass(frozen=True)
class ImapAccount:
    """Where the bounce mailbox is. `security`: tls (port 993), starttls or none (loopback only)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    security: str = "tls"
    mailbox: str = "INBOX"

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapAccount | None:
        """The account of the settings, or None when no bounce mailbox is configured."""
        if not (settings.imap_host and settings.imap_username and settings.imap_password):
            return None
        security = settings.imap_security.value
        return cls(
            host=settings.imap_host,
            port=settings.imap_port or (993 if security == "tls" else 143),
            username=settings.imap_username,
            password=settings.imap_password.get_secret_value(),
            security=security,
            mailbox=settings.imap_mailbox,
        )


class ImapConnection:
    """The few IMAP commands the loop needs, each bounded by `timeout` and checked."""

    def __init__(self, account: ImapAccount, timeout: float) -> None:
        self.account = account
        self.timeout = timeout
        self.client: IMAP4 | None = None
        self._idle: asyncio.Future[Any] | None = None
        self._aborted = False

    async def _command(self, what: str, command: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                response = await command
        except TimeoutError:
            raise ImapError(f"the mailbox server did not answer ({what}) within {self.timeout:g} s") from None
        if response is not None and response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")
            error = ImapLoginRefused if what == "log in" else ImapError
            raise error(f"the mailbox server would not {what}: {response.result} {text[:200]}")
        return response

    async def open(self) -> None:
        a = self.account
        if a.security == "tls":
            context = ssl.create_default_context()
            self.client = IMAP4_SSL(host=a.host, port=a.port, timeout=self.timeout, ssl_context=context)
        else:
            self.client = IMAP4(host=a.host, port=a.port, timeout=self.timeout)
        await self._command("connect", self.client.wait_hello_from_server())
        if a.security == "starttls":
            await self._starttls()
        await self._command("log in", self.client.login(a.username, a.password))
        await self._command(f"open the mailbox {a.mailbox!r}", self.client.select(a.mailbox))

    async def _starttls(self) -> None:
        """aioimaplib has no STARTTLS: send it, then upgrade the transport under its protocol."""
        assert self.client is not None
        protocol = self.client.protocol
        await self._command("start TLS", protocol.simple_command("STARTTLS"))
        loop = asyncio.get_running_loop()
        upgrade = loop.start_tls(
            protocol.transport, protocol, ssl.create_default_context(), server_hostname=self.account.host
        )
        protocol.transport = await self._command("TLS handshake", upgrade)
        await self._command("list capabilities", protocol.capability())

    async def unseen(self) -> list[int]:
        assert self.client is not None
        response = await self._command("search", self.client.uid_search("UNSEEN", charset=None))
        uids = {int(token) for line in response.lines[:-1] for token in bytes(line).split() if token.isdigit()}
        return sorted(uids)

    async def fetch(self, uid: int, limit: int) -> bytes | None:
        assert self.client is not None
        response = await self._command("fetch", self.client.uid("fetch", str(uid), f"(BODY.PEEK[]<0.{limit}>)"))
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None  # expunged meanwhile by someone else

    async def flag(self, uid: int, *flags: str) -> None:
        assert self.client is not None
        await self._command("flag", self.client.uid("store", str(uid), "+FLAGS.SILENT", f"({' '.join(flags)})"))

    async def move(self, uid: int, folder: str) -> None:
        """Move one message to `folder`, creating the folder the first time (RFC 3501 TRYCREATE)."""
        assert self.client is not None
        if "MOVE" not in self.client.protocol.capabilities:
            return  # flagged and seen is enough; a server without MOVE keeps it in place
        try:
            await self._command(f"move to {folder!r}", self.client.uid("move", str(uid), folder))
        except ImapError as exc:
            if "TRYCREATE" not in str(exc):
                raise
            await self._command(f"create {folder!r}", self.client.create(folder))
            await self._command(f"move to {folder!r}", self.client.uid("move", str(uid), folder))

    def offers_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    async def idle_until_news(self, seconds: float) -> bool:
        """IDLE (RFC 2177) until the server announces a new message (EXISTS) or `seconds` pass.

        True when new mail was announced. The IDLE is always ended with DONE before returning.
        """
        assert self.client is not None
        try:
            async with asyncio.timeout(self.timeout):
                idle = self._idle = await self.client.idle_start(timeout=seconds)
        except TimeoutError:
            raise ImapError(f"the mailbox server did not start IDLE within {self.timeout:g} s") from None
        log.debug("bounce mailbox: idling (IMAP IDLE) for up to %g s", seconds)
        try:
            for _ in range(_MAX_PUSHES_PER_IDLE):
                if not self.client.has_pending_idle():
                    return False
                push = await self.client.wait_server_push(timeout=seconds + self.timeout)
                if push == STOP_WAIT_SERVER_PUSH:
                    return False
                if any(bytes(line).rstrip().upper().endswith(b"EXISTS") for line in push):
                    return True
            return False
        finally:
            if not self._aborted:
                if self.client.has_pending_idle():
                    self.client.idle_done()
                with contextlib.suppress(TimeoutError, AioImapException):
                    await asyncio.wait_for(idle, timeout=min(self.timeout, DONE_GRACE_SECONDS))

    async def close(self) -> None:
        if self.client is None:
            return
        if not self._aborted:
            with contextlib.suppress(Exception):  # the server may be gone already: nothing to save
                await asyncio.wait_for(self.client.logout(), timeout=2)
        with contextlib.suppress(Exception):
            transport = self.client.protocol.transport
            if transport is not None:
                transport.close()

    def abort(self) -> None:
        """Drop the TCP connection now: no DONE, no LOGOUT, nothing awaited (a server that never
        answers them cannot hold a stopping process). aioimaplib's own IDLE task is cancelled."""
        self._aborted = True
        if self._idle is not None:
            self._idle.cancel()
        if self.client is None:
            return
        with contextlib.suppress(Exception):
            transport = self.client.protocol.transport
            if transport is not None:
                transport.abort()


@dataclass(frozen=True)
class ImapMailbox:
    """The bounce mailbox on an IMAP server (the `Mailbox` port)."""

    account: ImapAccount
    errors: tuple[type[BaseException], ...] = (ImapError, AioImapException, OSError, TimeoutError, ssl.SSLError)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapMailbox | None:
        account = ImapAccount.from_settings(settings)
        return None if account is None else cls(account)

    @property
    def address(self) -> str:
        return f"{self.account.username}@{self.account.host}:{self.account.port}"

    def scrub(self, text: str) -> str:
        """aioimaplib may put a whole command in an error's text (a LOGIN that timed out carries
        the password), so the password is hidden from it."""
        return text.replace(self.account.password, "********") if self.account.password else text

    def connect(self, timeout: float) -> ImapConnection:
        return ImapConnection(self.account, timeout)
