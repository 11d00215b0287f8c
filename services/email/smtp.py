"""The SMTP transport (aiosmtplib): pooled long-lived connections, and an exact account of each send.

This is the only module that imports aiosmtplib; its errors leave as ours
(`raise … from exc`). The protocol is driven step by step — MAIL, RCPT per recipient,
then DATA — because what a failure means depends on *when* it happens: before the DATA
command nothing can have been sent (retry), after it the message may have gone out
(`AmbiguousSendError`, never resent by itself). A 4xx/5xx reply to DATA is a clean answer.

Connections stay open between sends (at most `pool_size`); one that the server closed
while idle (421 or a plain disconnect) is replaced and the send retried once, which is
safe because it fails at MAIL FROM, before anything was handed over.
Error messages never contain the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from services.email.transport import (
    DSN_RCPT_OPTIONS,
    AmbiguousSendError,
    BeforeData,
    Envelope,
    PermanentSendError,
    SendError,
    SendResult,
    ServerFeatures,
    TransientSendError,
    TransportCheckFailed,
    WireEnvelope,
    as_bytes,
    dsn_mail_options,
    refuse_if_nobody_accepted,
    wire_envelope,
)

Security = Literal["tls", "starttls", "none"]
_NOTHING_SENT = "nothing was sent"


class _StaleConnection(Exception):
    """MAIL FROM met a closed connection or a 421: replace the connection and try once more."""

    def __init__(self, reply: str | None) -> None:
        super().__init__(reply)
        self.reply = reply


def _reply(exc: SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


def _refusal(exc: SMTPResponseException, what: str, **detail: dict[str, str]) -> SendError:
    reply = _reply(exc)
    if exc.code >= 500:
        return PermanentSendError(f"The mail server refused {what}: {reply}", reply=reply, **detail)
    return TransientSendError(
        f"The mail server asked to try {what} again later ({reply}); {_NOTHING_SENT}.", reply=reply, **detail
    )


@dataclass(frozen=True, kw_only=True)
class SmtpRelay:
    """Which relay, and how to reach it: `security` is `tls` (implicit, port 465), `starttls`
    (587) or `none` (local); a `username` logs in with `password` (never shown in a repr);
    `local_hostname` is what we say in EHLO; `tls_context` overrides the default verification."""

    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    local_hostname: str | None = None
    tls_context: ssl.SSLContext | None = None


class SmtpTransport:
    """Sends through one SMTP relay, over at most `pool_size` connections kept open between sends;
    `timeout` bounds each wait for the server, in seconds."""

    def __init__(self, *, relay: SmtpRelay, timeout: float = 30.0, pool_size: int = 2) -> None:
        security = relay.security
        if security not in ("tls", "starttls", "none"):
            raise ValueError(f"unknown SMTP security {security!r}: use tls, starttls or none")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.host, self.port, self.security = relay.host, relay.port, security
        self._username, self._password = relay.username, relay.password
        self.timeout = timeout
        self.pool_size = pool_size
        self._local_hostname = relay.local_hostname
        self._tls_context = relay.tls_context
        self._idle: list[SMTP] = []  # connected clients, most recently used last
        self._slots = asyncio.Semaphore(pool_size)

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpTransport(host={self.host!r}, port={self.port}, security={self.security!r})"

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    async def _connect(self) -> SMTP:
        """A connected, greeted (and logged-in) client, or TransportCheckFailed saying why not."""
        client = SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            username=self._username,
            password=self._password,
            timeout=self.timeout,
            local_hostname=self._local_hostname,
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
        except SMTPAuthenticationError as exc:
            client.close()
            raise TransportCheckFailed(
                f"The mail server {self._where} refused the username or password ({_reply(exc)}).", reply=_reply(exc)
            ) from exc
        except SMTPTimeoutError as exc:
            client.close()
            raise TransportCheckFailed(
                f"The mail server {self._where} did not answer within {self.timeout:g} s."
            ) from exc
        except SMTPResponseException as exc:
            client.close()
            raise TransportCheckFailed(
                f"The mail server {self._where} refused the connection ({_reply(exc)}).", reply=_reply(exc)
            ) from exc
        except (SMTPException, ssl.SSLError, OSError) as exc:
            client.close()
            reason = exc.message if isinstance(exc, SMTPException) else (exc.strerror or str(exc))
            raise TransportCheckFailed(f"Could not connect to the mail server {self._where}: {reason}.") from exc
        return client

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[list[SMTP | None]]:
        """Hold one of the `pool_size` slots; yields a one-item list holding its client (or None)."""
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.timeout)
        except TimeoutError as exc:
            raise TransientSendError(
                f"Every connection to the mail server stayed busy for {self.timeout:g} s; {_NOTHING_SENT}."
            ) from exc
        holder: list[SMTP | None] = [self._idle.pop() if self._idle else None]
        try:
            yield holder
        finally:
            client = holder[0]
            if client is not None and client.is_connected:
                self._idle.append(client)
            self._slots.release()

    async def send(
        self, envelope: Envelope, message: bytes | EmailMessage, *, before_data: BeforeData | None = None
    ) -> SendResult:
        if not envelope.recipients:
            raise PermanentSendError("The email has no recipients.")
        data = as_bytes(message)
        async with self._slot() as holder:
            for attempt in (1, 2):
                client = holder[0]
                if client is None or not client.is_connected:
                    holder[0] = None
                    try:
                        client = holder[0] = await self._connect()
                    except TransportCheckFailed as exc:
                        raise TransientSendError(f"{exc} Nothing was sent.", reply=exc.reply) from exc
                try:
                    return await self._transaction(client, envelope, data, before_data)
                except _StaleConnection as exc:
                    client.close()
                    holder[0] = None
                    if attempt == 2:
                        raise TransientSendError(
                            f"The mail server closed the connection ({exc.reply or 'disconnected'}); {_NOTHING_SENT}.",
                            reply=exc.reply,
                        ) from exc
                except (TransientSendError, PermanentSendError):
                    await self._reset(client)
                    raise
                except BaseException:
                    client.close()  # e.g. before_data failed mid-transaction, or cancellation
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transaction(
        self, client: SMTP, envelope: Envelope, data: bytes, before_data: BeforeData | None
    ) -> SendResult:
        dsn = client.supports_extension("dsn")
        wire = wire_envelope(envelope, data, server_smtputf8=client.supports_extension("smtputf8"))
        rcpt_options = list(DSN_RCPT_OPTIONS) if dsn else []
        mail_options = (dsn_mail_options(envelope.envid) if dsn else []) + (["SMTPUTF8"] if wire.smtputf8 else [])
        encoding = "utf-8" if wire.smtputf8 else "ascii"
        try:
            await client.mail(wire.mail_from, options=mail_options, encoding=encoding)
        except SMTPSenderRefused as exc:
            if exc.code == 421:
                raise _StaleConnection(_reply(exc)) from exc
            raise _refusal(exc, "the sender address") from exc
        except SMTPServerDisconnected as exc:
            raise _StaleConnection(None) from exc
        except SMTPTimeoutError as exc:
            raise TransientSendError(f"The mail server did not answer in time; {_NOTHING_SENT}.") from exc

        accepted, refused, deferred = await _rcpt_to(client, wire, options=rcpt_options, encoding=encoding)
        refuse_if_nobody_accepted(accepted, refused, deferred)

        if before_data is not None:
            await before_data()
        try:
            response = await client.data(data)
        except SMTPDataError as exc:  # a clean reply to DATA or to the data: nothing was accepted
            raise _refusal(exc, "the email", refused=refused, deferred=deferred) from exc
        except (SMTPServerDisconnected, SMTPTimeoutError, OSError) as exc:
            client.close()
            raise AmbiguousSendError(
                "The connection to the mail server broke after the email was handed over; it may have been sent. "
                "Check with the customer before sending it again.",
                refused=refused,
                deferred=deferred,
            ) from exc
        return SendResult(
            accepted=accepted,
            refused=refused,
            data_reply=f"{response.code} {response.message}".strip(),
            deferred=deferred,
        )

    async def _reset(self, client: SMTP) -> None:
        """End a failed transaction so the connection can be reused; close it if even that fails."""
        if not client.is_connected:
            return
        try:
            await client.rset()
        except (SMTPException, OSError):
            client.close()

    async def verify(self) -> ServerFeatures:
        """Connect, greet and log in with the current settings; return what the server offers
        (from its EHLO), or raise TransportCheckFailed saying why not."""
        client = await self._connect()
        features = ServerFeatures(smtputf8=client.supports_extension("smtputf8"))
        with contextlib.suppress(SMTPException, OSError):
            await client.quit()
        client.close()
        return features

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(SMTPException, OSError):
                await client.quit(timeout=min(self.timeout, 2.0))
            client.close()


async def _rcpt_to(
    client: SMTP, wire: WireEnvelope, *, options: list[str], encoding: str
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """RCPT TO for each recipient: (accepted, refused, deferred) as the server answered."""
    accepted: list[str] = []
    refused: dict[str, str] = dict(wire.refused)
    deferred: dict[str, str] = {}
    for recipient, address in wire.recipients.items():
        try:
            await client.rcpt(address, options=options, encoding=encoding)
        except SMTPRecipientRefused as exc:
            if exc.code == 421:
                raise _refusal(exc, "the recipients", refused=refused) from exc
            (refused if exc.code >= 500 else deferred)[recipient] = _reply(exc)
            continue
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            raise TransientSendError(
                f"The connection to the mail server broke before the email was handed over; {_NOTHING_SENT}.",
                refused=refused,
            ) from exc
        accepted.append(recipient)
    return accepted, refused, deferred
