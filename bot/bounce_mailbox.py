"""The bounce mailbox loop: read new messages over IMAP, file each as delivery events, mark it seen.

Bounces of our own SMTP sends come back to `bounces+TOKEN@…`, and that mailbox is read
here. One poll (`poll_once`) logs in, lists UNSEEN messages (oldest first, at most
`batch_size`), and for each one: fetches it without setting \\Seen (`BODY.PEEK`, capped at
`max_message_bytes` — the report comes first, a returned 10 MB invoice is not needed),
reads it with `services.bounces.read_bounce`, records what it says through
`services.delivery_events` in its own transaction, COMMITS, and only then flags it
\\Seen. A crash between the commit and the flag reads the message again next time, and
the events' deduplication makes that harmless; the other order could lose a bounce.

What happens to each kind of message:
- a report that names one of our deliveries → its events are filed (`parsed`);
- a report for no delivery we know → stored as orphan events (`orphan`), flagged
  `$InvoicebotUnmatched`, and moved to `unmatched_folder` when one is set;
- an auto-reply ("out of office") → not a bounce: only flagged \\Seen (`auto_replies`);
- anything unreadable → stored as an unparsed event for `/invoices problems`
  (`unparseable`), flagged and moved like an orphan. It is never left UNSEEN: a message
  read again on every poll would fill the batch and starve real bounces.

Between polls the loop waits on the server's IMAP IDLE (RFC 2177) when its CAPABILITY
offers it, so a bounce is filed within seconds of arriving; the poll every `poll_interval`
seconds stays as the safety net (and the only way on a server without IDLE), and an IDLE
is ended and started again at most every `IDLE_RENEW_SECONDS` (the RFC asks for < 29 min).

The loop never stops on a bad message or an unreachable server: IMAP and network errors
are logged (never the password), counted in `imap_errors`, retried a bounded number of
times per poll, and `run` backs off exponentially up to `max_backoff` seconds. A database
error leaves the message UNSEEN for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from aioimaplib import IMAP4, IMAP4_SSL, STOP_WAIT_SERVER_PUSH, AioImapException
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.container import Container
from bot.loop_health import Heartbeat
from services.bounces import NotBounce, dsn_event_id, read_bounce
from services.db.models import utcnow
from services.db.rounds import DEFAULT_LOCK_TIMEOUT, lock_bounded_session
from services.delivery_events import IncomingEvent, record_delivery_event, record_unparsed
from services.errors import error_summary

log = logging.getLogger(__name__)

UNMATCHED_KEYWORD = "$InvoicebotUnmatched"
# RFC 2177: servers may drop an IDLE after 30 minutes of inactivity; renew well before.
IDLE_RENEW_SECONDS = 25 * 60
# An IDLE session reports flag changes and the like too; stop listening after this many.
_MAX_PUSHES_PER_IDLE = 1000


class ImapError(Exception):
    """The mailbox server refused a command or did not answer (the reason, no secrets)."""


class LoginRefused(ImapError):
    """Wrong user name or password: not retried within a poll (servers slow down repeat failures)."""


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


@dataclass
class PollStats:
    """What one poll did (or, summed in `BounceMailbox.totals`, the loop's life): the metrics."""

    fetched: int = 0
    parsed: int = 0
    orphan: int = 0
    unparseable: int = 0
    auto_replies: int = 0
    duplicates: int = 0
    filing_errors: int = 0
    imap_errors: int = 0
    more_waiting: bool = False
    last_error: str | None = None
    filing_error: str | None = None  # why the database refused the last message (locked, full)

    def add(self, other: PollStats) -> None:
        for spec in fields(self):
            value = getattr(other, spec.name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, spec.name, getattr(self, spec.name) + value)
        self.last_error = other.last_error or self.last_error


class _Connection:
    """The few IMAP commands the loop needs, each bounded by `timeout` and checked."""

    def __init__(self, account: ImapAccount, timeout: float) -> None:
        self.account = account
        self.timeout = timeout
        self.client: IMAP4 | None = None

    async def _command(self, what: str, command: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                response = await command
        except TimeoutError:
            raise ImapError(f"the mailbox server did not answer ({what}) within {self.timeout:g} s") from None
        if response is not None and response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")
            error = LoginRefused if what == "log in" else ImapError
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
                idle = await self.client.idle_start(timeout=seconds)
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
            if self.client.has_pending_idle():
                self.client.idle_done()
            with contextlib.suppress(TimeoutError, AioImapException):
                await asyncio.wait_for(idle, timeout=self.timeout)

    async def close(self) -> None:
        if self.client is None:
            return
        with contextlib.suppress(Exception):  # the server may be gone already: nothing to save
            await asyncio.wait_for(self.client.logout(), timeout=2)
        with contextlib.suppress(Exception):
            transport = self.client.protocol.transport
            if transport is not None:
                transport.close()


@dataclass(frozen=True)
class _Filed:
    kind: str  # parsed | orphan | unparseable | auto_replies
    duplicates: int = 0


class BounceMailbox:
    """Reads the bounce mailbox; `poll_once` for one pass, `run` for the background loop."""

    def __init__(
        self,
        *,
        account: ImapAccount,
        sessions: async_sessionmaker[AsyncSession],
        verp_secret: bytes,
        batch_size: int = 50,
        poll_interval: float = 30.0,
        max_backoff: float = 600.0,
        attempts_per_poll: int = 2,
        timeout: float = 30.0,
        max_message_bytes: int = 1024 * 1024,
        unmatched_folder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        connect: Callable[[], Any] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        """`connect` replaces the IMAP connection with another source answering the same calls
        (open, unseen, fetch, flag, move, close): the demo's folder, bot.sandbox.folder_mailbox.
        `lock_timeout`: seconds filing a message waits for another transaction's lock; past it the
        message stays UNSEEN and the poll reports the filing error, instead of hanging."""
        self.account = account
        self.sessions = sessions
        self.verp_secret = verp_secret
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.attempts_per_poll = attempts_per_poll
        self.timeout = timeout
        self.max_message_bytes = max_message_bytes
        self.unmatched_folder = unmatched_folder
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.connect = connect or (lambda: _Connection(self.account, self.timeout))
        self.totals = PollStats()
        self.idle_waits = 0  # how many times the server accepted IDLE (0: polling only)
        self._unseen_at_last_poll: set[int] = set()

    async def poll_once(self) -> PollStats:
        """One pass over the UNSEEN messages. Never raises for IMAP, network or parse errors."""
        stats = PollStats()
        for attempt in range(self.attempts_per_poll):
            try:
                # One deadline for the whole pass: a server that stops answering cannot hold the loop.
                async with asyncio.timeout(self.timeout * (self.batch_size + 3)):
                    await self._pass(stats)
                stats.last_error = None
                break
            except (ImapError, AioImapException, OSError, TimeoutError, ssl.SSLError) as exc:
                stats.imap_errors += 1
                stats.last_error = _describe(exc, secret=self.account.password)
                log.warning(
                    "bounce mailbox %s@%s:%s: %s (attempt %s of %s)",
                    self.account.username,
                    self.account.host,
                    self.account.port,
                    stats.last_error,
                    attempt + 1,
                    self.attempts_per_poll,
                )
                if isinstance(exc, LoginRefused):
                    break
                if attempt + 1 < self.attempts_per_poll:
                    await asyncio.sleep(min(1.0, self.poll_interval))
        self.totals.add(stats)
        return stats

    async def _pass(self, stats: PollStats) -> None:
        connection = self.connect()
        try:
            await connection.open()
            uids = await connection.unseen()
            self._unseen_at_last_poll = set(uids)
            stats.more_waiting = len(uids) > self.batch_size
            for uid in uids[: self.batch_size]:
                raw = await connection.fetch(uid, self.max_message_bytes)
                if raw is None:
                    continue
                stats.fetched += 1
                try:
                    filed = await self._file(raw)
                except SQLAlchemyError as exc:
                    # Left UNSEEN: read again on the next poll, once the database answers.
                    stats.filing_errors += 1
                    stats.filing_error = error_summary(exc)
                    stats.more_waiting = True
                    log.error("bounce mailbox: message uid %s not filed, kept for the next poll: %s", uid, exc)
                    break
                setattr(stats, filed.kind, getattr(stats, filed.kind) + 1)
                stats.duplicates += filed.duplicates
                if filed.kind in ("orphan", "unparseable"):
                    await connection.flag(uid, "\\Seen", UNMATCHED_KEYWORD)
                    if self.unmatched_folder:
                        await connection.move(uid, self.unmatched_folder)
                else:
                    await connection.flag(uid, "\\Seen")
        finally:
            await connection.close()

    async def _file(self, raw: bytes) -> _Filed:
        """Record one message in its own transaction and commit it (before it is flagged)."""
        reading = read_bounce(raw)
        now = self.clock()
        if reading.report is None and reading.not_bounce == NotBounce.AUTO_REPLY:
            return _Filed("auto_replies")
        text = raw.decode("utf-8", "replace")
        async with lock_bounded_session(self.sessions, self.lock_timeout) as session:
            if reading.report is None:
                recorded = await record_unparsed(
                    session,
                    source="dsn",
                    raw=text,
                    reason=reading.detail or "unreadable message in the bounce mailbox",
                    source_event_id="dsn-unparsed:" + hashlib.sha256(raw).hexdigest()[:40],
                    now=now,
                )
                await session.commit()
                return _Filed("unparseable", duplicates=int(recorded.duplicate))
            report = reading.report
            matched = duplicates = 0
            for recipient in report.recipients:
                recorded = await record_delivery_event(
                    session,
                    event=IncomingEvent(
                        source="dsn",
                        type=recipient.event_type,
                        recipient=recipient.recipient,
                        occurred_at=report.occurred_at or now,
                        source_event_id=dsn_event_id(report, recipient, raw),
                        bounce_kind=recipient.bounce_kind,
                        status_code=recipient.status,
                        diagnostic=recipient.diagnostic,
                        raw=text,
                        verp_token=report.verp_token,
                        message_id=report.original_message_id,
                        envid=report.envid,
                    ),
                    now=now,
                    verp_secret=self.verp_secret,
                )
                matched += recorded.delivery_id is not None
                duplicates += recorded.duplicate
            await session.commit()
        return _Filed("parsed" if matched else "orphan", duplicates=duplicates)

    async def run(self, stop: asyncio.Event, heartbeat: Heartbeat | None = None) -> None:
        """Poll until `stop` is set: at once again while a full batch is making progress,
        after `poll_interval` when idle, with exponential backoff while the server fails.
        Each poll is reported to `heartbeat` (the process's /healthz)."""
        log.info("bounce mailbox loop started for %s@%s", self.account.username, self.account.host)
        failures = 0
        while not stop.is_set():
            stats = await self.poll_once()
            if heartbeat is not None:
                _report(heartbeat, stats)
            failures = failures + 1 if stats.last_error else 0
            if failures:
                delay = min(self.max_backoff, self.poll_interval * 2 ** min(failures - 1, 16))
            elif stats.more_waiting and stats.fetched and not stats.filing_errors:
                delay = 0.0
            else:
                delay = self.poll_interval
            await self._wait_for_mail(stop, delay, idle=not failures)
        log.info("bounce mailbox loop stopped")

    async def _wait_for_mail(self, stop: asyncio.Event, delay: float, *, idle: bool) -> None:
        """Return after `delay` seconds, when `stop` is set, or — with `idle` on a server that
        offers IDLE — as soon as the server announces a new message."""
        if delay <= 0 or stop.is_set():
            return
        waiting = asyncio.ensure_future(self._idle_or_sleep(delay) if idle else asyncio.sleep(delay))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, timeout=delay + self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
            await asyncio.gather(waiting, stopping, return_exceptions=True)

    async def _idle_or_sleep(self, seconds: float) -> None:
        """IDLE on a connection of its own for up to `seconds` (at most IDLE_RENEW_SECONDS),
        or sleep them out when the server has no IDLE or the IDLE fails (the next poll reports why)."""
        deadline = asyncio.get_running_loop().time() + seconds
        connection = self.connect()
        if hasattr(connection, "idle_until_news"):
            try:
                await connection.open()
                if connection.offers_idle():
                    if set(await connection.unseen()) - self._unseen_at_last_poll:
                        return  # arrived after the poll looked, before this IDLE could hear of it
                    self.idle_waits += 1
                    await connection.idle_until_news(min(seconds, IDLE_RENEW_SECONDS))
                    return
            except (ImapError, AioImapException, OSError, TimeoutError, ssl.SSLError) as exc:
                log.info("bounce mailbox: IDLE not possible, polling: %s", _describe(exc, secret=self.account.password))
            finally:
                await connection.close()
        await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))


def _report(heartbeat: Heartbeat, stats: PollStats) -> None:
    """A poll that could not read the mailbox or file a message failed; one that filed some progressed."""
    if stats.last_error or stats.filing_errors:
        heartbeat.failed(stats.last_error or f"a bounce could not be filed in the database: {stats.filing_error}")
    elif stats.fetched:
        heartbeat.progressed()
    else:
        heartbeat.idle()


def _describe(exc: BaseException, *, secret: str) -> str:
    """The error in a line for the log. aioimaplib may put a whole command in an error's text
    (a LOGIN that timed out carries the password), so the secret is scrubbed from it."""
    text = str(exc).strip() or ("no answer in time" if isinstance(exc, TimeoutError) else "no details")
    if secret:
        text = text.replace(secret, "********")
    return f"{type(exc).__name__}: {text[:300]}"


def bounce_loop(
    container: Container, stop: asyncio.Event | None = None, heartbeat: Heartbeat | None = None
) -> Coroutine[Any, Any, None]:
    """The coroutine `invoicebot run` / `worker` adds to its loops; it runs until `stop` is set or
    it is cancelled. Without a bounce mailbox in the settings it logs that once and returns."""
    account = ImapAccount.from_settings(container.settings)
    if account is None:
        return _not_configured()
    mailbox = BounceMailbox(
        account=account,
        sessions=container.sessions,
        verp_secret=container.verp_secret(),
        poll_interval=container.settings.imap_poll_seconds,
    )
    return mailbox.run(stop or asyncio.Event(), heartbeat)


async def _not_configured() -> None:
    log.info("no bounce mailbox configured (INVOICEBOT_IMAP_HOST/_USERNAME/_PASSWORD): bounces are not read")
