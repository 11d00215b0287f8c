"""The bounce mailbox loop: read new messages, file each as delivery events, mark it seen.

The mailbox is a port (bot/mailbox_port.py): IMAP in production (bot/imap_mailbox.py), a
local folder in the demo (bot/sandbox/folder_mailbox.py); this loop is the same for both.

Bounces of our own SMTP sends come back to `bounces+TOKEN@…`, and that mailbox is read
here. One poll (`poll_once`) logs in, lists UNSEEN messages (oldest first, at most
`batch_size`), and for each one: fetches it without setting \\Seen (`BODY.PEEK`, capped at
`max_message_bytes` — the report comes first, a returned 10 MB invoice is not needed),
reads it with `services.tracking.bounces.read_bounce`, records what it says through
`services.tracking.events` in its own transaction, COMMITS, and only then flags it
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
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat
from bot.mailbox_port import IDLE_RENEW_SECONDS, SEEN, LoginRefused, Mailbox, MailboxConnection
from services.db.models import utcnow
from services.db.rounds import DEFAULT_LOCK_TIMEOUT, lock_bounded_session
from services.errors import error_summary
from services.tracking.bounces import NotBounce, dsn_event_id, read_bounce
from services.tracking.event_types import IncomingEvent
from services.tracking.events import UnparsedMessage, file_events, file_unparsed
from services.unit_of_work import units_over

log = logging.getLogger(__name__)

UNMATCHED_KEYWORD = "$InvoicebotUnmatched"
STOP_GRACE_SECONDS = 2.0  # how long a stop waits for the dropped IDLE connection's clean-up


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


@dataclass(frozen=True)
class _Filed:
    kind: str  # parsed | orphan | unparseable | auto_replies
    duplicates: int = 0


@dataclass(frozen=True, kw_only=True)
class MailboxPolling:
    """How the bounce mailbox is read: how many messages a pass, how often, how patiently,
    and where a message that matches no send is moved (`unmatched_folder`; None: left in place).

    `lock_timeout`: seconds filing a message waits for another transaction's lock; past it the
    message stays UNSEEN and the poll reports the filing error, instead of hanging."""

    batch_size: int = 50
    poll_interval: float = 30.0
    max_backoff: float = 600.0
    attempts_per_poll: int = 2
    timeout: float = 30.0
    max_message_bytes: int = 1024 * 1024
    unmatched_folder: str | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


class BounceMailbox:
    """Reads the bounce mailbox; `poll_once` for one pass, `run` for the background loop."""

    def __init__(
        self,
        *,
        mailbox: Mailbox,
        sessions: async_sessionmaker[AsyncSession],
        verp_secret: bytes,
        clock: Callable[[], datetime] = utcnow,
        polling: MailboxPolling | None = None,
    ) -> None:
        """`mailbox`: IMAP (bot/imap_mailbox.py) or the demo's folder (bot/sandbox/folder_mailbox.py)."""
        polling = polling or MailboxPolling()
        self.mailbox = mailbox
        self.sessions = sessions
        self.verp_secret = verp_secret
        self.batch_size = polling.batch_size
        self.poll_interval = polling.poll_interval
        self.max_backoff = polling.max_backoff
        self.attempts_per_poll = polling.attempts_per_poll
        self.timeout = polling.timeout
        self.max_message_bytes = polling.max_message_bytes
        self.unmatched_folder = polling.unmatched_folder
        self.clock = clock
        self.lock_timeout = polling.lock_timeout
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
            except self.mailbox.errors as exc:
                stats.imap_errors += 1
                stats.last_error = _describe(exc, self.mailbox)
                log.warning(
                    "bounce mailbox %s: %s (attempt %s of %s)",
                    self.mailbox.address,
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
        connection = self.mailbox.connect(self.timeout)
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
                    await connection.flag(uid, SEEN, UNMATCHED_KEYWORD)
                    if self.unmatched_folder:
                        await connection.move(uid, self.unmatched_folder)
                else:
                    await connection.flag(uid, SEEN)
        finally:
            await connection.close()

    async def _file(self, raw: bytes) -> _Filed:
        """Record one message in a unit of work of its own, committed (before it is flagged)."""
        reading = read_bounce(raw)
        now = self.clock()
        if reading.report is None and reading.not_bounce == NotBounce.AUTO_REPLY:
            return _Filed("auto_replies")
        text = raw.decode("utf-8", "replace")
        units = units_over(partial(lock_bounded_session, self.sessions, self.lock_timeout))
        if reading.report is None:
            message = UnparsedMessage(
                source="dsn",
                raw=text,
                reason=reading.detail or "unreadable message in the bounce mailbox",
                source_event_id="dsn-unparsed:" + hashlib.sha256(raw).hexdigest()[:40],
            )
            unparsed = await file_unparsed(units, message, now=now)
            return _Filed("unparseable", duplicates=int(unparsed.duplicate))
        report = reading.report
        events = [
            IncomingEvent(
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
            )
            for recipient in report.recipients
        ]
        recorded = await file_events(units, events=events, now=now, verp_secret=self.verp_secret)
        matched = sum(one.delivery_id is not None for one in recorded)
        duplicates = sum(one.duplicate for one in recorded)
        return _Filed("parsed" if matched else "orphan", duplicates=duplicates)

    async def run(self, stop: asyncio.Event, heartbeat: Heartbeat | None = None) -> None:
        """Poll until `stop` is set: at once again while a full batch is making progress,
        after `poll_interval` when idle, with exponential backoff while the server fails.
        Each poll is reported to `heartbeat` (the process's /healthz)."""
        log.info("bounce mailbox loop started for %s", self.mailbox.address)
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
        offers IDLE — as soon as the server announces a new message.

        On a stop the IDLE connection is dropped, not closed politely (it is a connection of its
        own, with nothing to save), and its clean-up is given `STOP_GRACE_SECONDS` at most: the
        loop ends within its bound whatever the server does."""
        if delay <= 0 or stop.is_set():
            return
        connection = self.mailbox.connect(self.timeout) if idle else None
        waiting = asyncio.ensure_future(
            self._idle_or_sleep(connection, delay) if connection is not None else asyncio.sleep(delay)
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, timeout=delay + self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if connection is not None and not waiting.done():
                connection.abort()
            for task in (waiting, stopping):
                task.cancel()
            done, unfinished = await asyncio.wait({waiting, stopping}, timeout=STOP_GRACE_SECONDS)
            for task in done:
                if not task.cancelled():
                    task.exception()  # read: its failure was logged where it happened, or is the next poll's
            if unfinished:
                log.warning("bounce mailbox: the IDLE connection did not close within %g s", STOP_GRACE_SECONDS)

    async def _idle_or_sleep(self, connection: MailboxConnection, seconds: float) -> None:
        """IDLE on `connection` (a connection of its own) for up to `seconds` (at most
        IDLE_RENEW_SECONDS), or sleep them out when the server has no IDLE or the IDLE fails
        (the next poll reports why)."""
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            await connection.open()
            if connection.offers_idle():
                if set(await connection.unseen()) - self._unseen_at_last_poll:
                    return  # arrived after the poll looked, before this IDLE could hear of it
                self.idle_waits += 1
                await connection.idle_until_news(min(seconds, IDLE_RENEW_SECONDS))
                return
        except self.mailbox.errors as exc:
            log.info("bounce mailbox: IDLE not possible, polling: %s", _describe(exc, self.mailbox))
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


def _describe(exc: BaseException, mailbox: Mailbox) -> str:
    """The error in a line for the log, with the mailbox's secret scrubbed from it."""
    text = str(exc).strip() or ("no answer in time" if isinstance(exc, TimeoutError) else "no details")
    return f"{type(exc).__name__}: {mailbox.scrub(text)[:300]}"
