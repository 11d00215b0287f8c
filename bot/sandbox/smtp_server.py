"""A local SMTP server (aiosmtpd) that answers as scripted: the tests' and the demo's mail relay.

It listens on 127.0.0.1 on a free port, on the running event loop (aiosmtpd's threaded
`Controller` refuses port 0), and records every message it receives — envelope and parsed
email — or only counts them (`count_only`, for benchmarks). With `eml_dir` it also keeps
each one as `<queue id>.eml`, headed by its envelope as a mailbox records it
(`mailbox_copy`). Its answers come from a `services.email.script.SmtpScript`: a reply per
recipient, a reply to the data, a hang, a connection dropped after the data, each
optionally just once.

For benchmarks, run it in its own process (one GIL each side):
`python -m bot.sandbox.smtp_server --port 2525 --count-only`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from services.email.message import MAX_MESSAGE_BYTES
from services.email.script import ReceivedMessage, SmtpScript, queued_reply, reply_code

# A scripted hang never outlives this, so a forgotten server cannot hold a test forever.
HANG_LIMIT_SECONDS = 60.0
_DSN_PARAMS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})


class _ScriptedSession(SMTP):
    """aiosmtpd's SMTP protocol, plus: DSN parameters when advertised, hangs, 421 closes."""

    def __init__(self, server: ScriptedSmtpServer, **kwargs: Any) -> None:
        super().__init__(_Handler(server), **kwargs)
        self.scripted = server
        server.connection_count += 1
        self.connection_number = server.connection_count

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.scripted._open.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.scripted._open.discard(self)
        super().connection_lost(error)

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        result = super()._getparams(params)
        if result is not None and self.scripted.script.advertise_dsn:
            result = {key: value for key, value in result.items() if key not in _DSN_PARAMS}
        return result

    async def push(self, status: AnyStr) -> None:
        await super().push(status)
        code = status[:3].decode("ascii", "replace") if isinstance(status, bytes) else status[:3]
        if code == "421" and self.transport is not None:
            self.transport.close()

    async def smtp_DATA(self, arg: str) -> None:
        if self.scripted.script.hang_on == "DATA" and self.envelope is not None and self.envelope.rcpt_tos:
            await self.scripted.hang()
            return
        await super().smtp_DATA(arg)


class _Handler:
    def __init__(self, server: ScriptedSmtpServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, session_: _ScriptedSession, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.server.script.advertise_dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_MAIL(
        self, smtp: _ScriptedSession, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        script = self.server.script
        if script.hang_on == "MAIL":
            await self.server.hang()
        reply = script.take_mail_reply()
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, smtp: _ScriptedSession, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        script = self.server.script
        if script.hang_on == "RCPT":
            await self.server.hang()
        reply = script.take_rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, smtp: _ScriptedSession, session: Session, envelope: Envelope) -> str:
        server, script = self.server, self.server.script
        if script.hang_on == "END_OF_DATA":
            await server.hang()
        reply = script.take_data_reply()
        if reply is not None and reply_code(reply) >= 400:
            return reply
        queue_id = server.record(envelope, smtp.connection_number)
        if script.take_drop_after_data() and isinstance(smtp.transport, asyncio.WriteTransport):
            smtp.transport.abort()  # received, never acknowledged
        return reply or queued_reply(queue_id)


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How the server behaves besides its script.

    `count_only` keeps a count instead of the messages (benchmarks); `eml_dir` also writes each
    message there as `<queue id>.eml`; `credentials` (login, password) makes AUTH required;
    `tls_context` offers STARTTLS, or with `implicit_tls` wraps the whole connection (port 465 style).
    """

    count_only: bool = False
    eml_dir: Path | None = None
    credentials: tuple[str, str] | None = None
    hostname: str = "sandbox.invoicebot.test"
    tls_context: ssl.SSLContext | None = None
    implicit_tls: bool = False


class ScriptedSmtpServer:
    """Start with `await server.start()`; send to `127.0.0.1:server.port`; read `server.received`."""

    def __init__(
        self,
        *,
        script: SmtpScript | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServerOptions = ServerOptions(),
    ) -> None:
        self.script = script or SmtpScript()
        self.host, self.port = host, port
        self.count_only, self.eml_dir = options.count_only, options.eml_dir
        self.credentials = options.credentials
        self.hostname = options.hostname
        self.tls_context, self.implicit_tls = options.tls_context, options.implicit_tls
        self.received: list[ReceivedMessage] = []
        self.message_count = 0
        self.connection_count = 0
        self._open: set[_ScriptedSession] = set()
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self.credentials is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == self.credentials
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> _ScriptedSession:
        with warnings.catch_warnings():
            # AUTH without TLS is what a local test relay on 127.0.0.1 is for.
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return self._new_session()

    def _new_session(self) -> _ScriptedSession:
        return _ScriptedSession(
            self,
            hostname=self.hostname,
            ident="invoicebot sandbox SMTP",
            decode_data=False,
            data_size_limit=MAX_MESSAGE_BYTES + 4 * 1024 * 1024,  # all invoicebot sends (aiosmtpd: 32 MiB)
            enable_SMTPUTF8=self.script.smtputf8,
            auth_required=self.credentials is not None,
            auth_require_tls=False,
            authenticator=self._authenticate if self.credentials is not None else None,
            tls_context=None if self.implicit_tls else self.tls_context,
        )

    async def start(self) -> ScriptedSmtpServer:
        if self.eml_dir is not None:
            self.eml_dir.mkdir(parents=True, exist_ok=True)
        self._release.clear()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, host=self.host, port=self.port, ssl=self.tls_context if self.implicit_tls else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            for session in list(self._open):
                if session.transport is not None:
                    session.transport.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ScriptedSmtpServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        """Close every open connection, as a server does with idle clients; clients must reconnect."""
        for session in list(self._open):
            if session.transport is not None:
                session.transport.close()

    async def hang(self) -> None:
        """Never answer (until stopped, or HANG_LIMIT_SECONDS at most)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), timeout=HANG_LIMIT_SECONDS)

    def record(self, envelope: Envelope, connection: int) -> str:
        self.message_count += 1
        queue_id = f"SBX{self.message_count:06d}"
        if self.count_only:
            return queue_id
        data = envelope.original_content or envelope.content or b""
        data = data if isinstance(data, bytes) else data.encode()
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            mail_options=list(envelope.mail_options),
            rcpt_options=list(envelope.rcpt_options),
            data=data,
            queue_id=queue_id,
            connection=connection,
        )
        self.received.append(received)
        if self.eml_dir is not None:
            (self.eml_dir / f"{queue_id}.eml").write_bytes(mailbox_copy(received))
        return queue_id


def mailbox_copy(received: ReceivedMessage) -> bytes:
    """The message as a mailbox stores it: the envelope first, since the headers alone do not carry it.

    A delivering MTA records the envelope sender as `Return-Path:` (RFC 5321 4.4) — the VERP
    address a bounce goes back to — and the envelope recipients (here `X-Envelope-To:`, one
    line each), which may differ from To/Cc (Bcc, a resend to a corrected address).
    """
    newline = b"\r\n" if b"\r\n" in received.data[:2000] else b"\n"
    lines = [f"Return-Path: <{received.mail_from}>".encode()]
    lines += [f"X-Envelope-To: {recipient}".encode() for recipient in received.recipients]
    return newline.join(lines) + newline + received.data


async def _serve(port: int, count_only: bool, eml_dir: Path | None, dsn: bool, max_seconds: float) -> None:
    options = ServerOptions(count_only=count_only, eml_dir=eml_dir)
    server = ScriptedSmtpServer(script=SmtpScript(advertise_dsn=dsn), port=port, options=options)
    await server.start()
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    await server.stop()
    print(f"received {server.message_count} messages on {server.connection_count} connections", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="invoicebot's scripted local SMTP server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--count-only", action="store_true", help="count messages, keep nothing (benchmarks)")
    parser.add_argument("--eml-dir", type=Path, help="write each message to this folder as NAME.eml")
    parser.add_argument("--dsn", action="store_true", help="advertise the DSN extension")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long at most")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.count_only, args.eml_dir, args.dsn, args.max_seconds))


if __name__ == "__main__":
    main()
