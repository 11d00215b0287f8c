"""An in-memory transport: records what would have been sent and plays a scripted server's answers.

It follows the same rules as `smtp.SmtpTransport` (checked by one contract test suite run
against both), so code above the transport can be tested without sockets: a refused
recipient, a 4xx, a hang before or after DATA, a connection dropped after the data.
It counts "connections" the way a pooled SMTP client would open them.
"""

from __future__ import annotations

from email.message import EmailMessage

from services.email.script import ReceivedMessage, SmtpScript, queued_reply, reply_code
from services.email.transport import (
    DSN_RCPT_OPTIONS,
    AmbiguousSendError,
    BeforeData,
    Envelope,
    PermanentSendError,
    SendResult,
    ServerFeatures,
    TransientSendError,
    WireEnvelope,
    as_bytes,
    dsn_mail_options,
    refuse_if_nobody_accepted,
    wire_envelope,
)


class InMemoryTransport:
    def __init__(self, script: SmtpScript | None = None) -> None:
        self.script = script or SmtpScript()
        self.received: list[ReceivedMessage] = []
        self.connections = 0
        self._connected = False
        self.closed = False

    def drop_connections(self) -> None:
        """Simulate the server closing idle connections: the next send must reconnect."""
        self._connected = False

    def _connect(self) -> None:
        if not self._connected:
            self.connections += 1
            self._connected = True

    def _answer(self, reply: str, what: str, **detail: dict[str, str]) -> None:
        code = reply_code(reply)
        if code == 421:
            self._connected = False
        if code >= 500:
            raise PermanentSendError(f"The mail server refused {what}: {reply}", reply=reply, **detail)
        raise TransientSendError(f"The mail server asked to try {what} again later: {reply}", reply=reply, **detail)

    def _mail_from(self) -> None:
        """MAIL FROM, on a new connection once more if the pooled one was closed (421)."""
        for attempt in (1, 2):
            self._connect()
            if self.script.hang_on == "MAIL":
                self._connected = False
                raise TransientSendError("The mail server did not answer in time; nothing was sent.")
            reply = self.script.take_mail_reply()
            if reply is None:
                return
            if reply_code(reply) == 421 and attempt == 1:
                self._connected = False  # a pooled connection the server closed: reconnect once
                continue
            self._answer(reply, "the sender")

    def _rcpt_to(self, wire: WireEnvelope) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """RCPT TO for each recipient: (accepted, refused, deferred) as the server answered."""
        accepted: list[str] = []
        refused: dict[str, str] = dict(wire.refused)
        deferred: dict[str, str] = {}
        for recipient in wire.recipients:
            if self.script.hang_on == "RCPT":
                self._connected = False
                raise TransientSendError("The mail server did not answer in time; nothing was sent.")
            reply = self.script.take_rcpt_reply(recipient)
            if reply is None:
                accepted.append(recipient)
            elif reply_code(reply) == 421:
                self._answer(reply, "the recipients", refused=refused)
            elif reply_code(reply) >= 500:
                refused[recipient] = reply
            else:
                deferred[recipient] = reply
        return accepted, refused, deferred

    async def send(
        self, envelope: Envelope, message: bytes | EmailMessage, *, before_data: BeforeData | None = None
    ) -> SendResult:
        script = self.script
        data = as_bytes(message)
        if not envelope.recipients:
            raise PermanentSendError("The email has no recipients.")
        self._mail_from()
        wire = wire_envelope(envelope, data, server_smtputf8=script.smtputf8)
        accepted, refused, deferred = self._rcpt_to(wire)
        refuse_if_nobody_accepted(accepted, refused, deferred)

        if before_data is not None:
            await before_data()
        if script.hang_on in ("DATA", "END_OF_DATA"):
            self._connected = False
            raise AmbiguousSendError(
                "The mail server stopped answering after the email was handed over; it may have been sent."
            )
        reply = script.take_data_reply()
        if reply is not None:
            self._answer(reply, "the email", refused=refused, deferred=deferred)
        options = dsn_mail_options(envelope.envid) if script.advertise_dsn else []
        options += ["SMTPUTF8"] if wire.smtputf8 else []
        received = ReceivedMessage(
            mail_from=wire.mail_from,
            recipients=[wire.recipients[recipient] for recipient in accepted],
            mail_options=[option.upper() for option in options],
            rcpt_options=list(DSN_RCPT_OPTIONS) * len(accepted) if script.advertise_dsn else [],
            data=data,
            queue_id=f"MEM{len(self.received) + 1:06d}",
            connection=self.connections,
        )
        self.received.append(received)
        if script.take_drop_after_data():
            self._connected = False
            raise AmbiguousSendError(
                "The connection to the mail server broke after the email was handed over; it may have been sent."
            )
        return SendResult(
            accepted=accepted, refused=refused, data_reply=queued_reply(received.queue_id), deferred=deferred
        )

    async def verify(self) -> ServerFeatures:
        self._connect()
        return ServerFeatures(smtputf8=self.script.smtputf8)

    async def aclose(self) -> None:
        self._connected = False
        self.closed = True
