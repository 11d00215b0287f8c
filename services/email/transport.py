"""The transport interface: hand one message to a mail server and say exactly what happened.

Shaped like httpx's transports: a small `Protocol`, a real implementation
(`smtp.SmtpTransport`, the only module importing aiosmtplib) and an in-memory one
(`memory.InMemoryTransport`) passed in through the constructor of whatever sends.

What the caller (the delivery worker) does with each outcome:

- `SendResult` — the server answered DATA with 2xx. `data_reply` holds its queue id: store
  it. `accepted` recipients are sent. `refused` (5xx at RCPT) failed for good, with the
  server's reply as the reason. `deferred` (4xx at RCPT while others were accepted) were
  NOT sent: retry the delivery later for those recipients only — never for `accepted`
  ones, or they would receive the invoice twice.
- `TransientSendError` — nothing was sent (4xx, timeout or lost connection *before* the
  DATA command): retry the whole delivery with backoff. Its `refused` lists recipients
  that had a 5xx meanwhile; fail those.
- `PermanentSendError` — a 5xx for the sender, for every recipient, or for the data:
  nothing was sent and a retry would fail the same way. Mark the delivery failed.
- `AmbiguousSendError` — the connection broke or timed out after the DATA command was
  sent: the server may have accepted the message. Mark the delivery `unknown`; never
  resend it by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from services.email.addresses import envelope_address, no_smtputf8_reason
from services.errors import InvalidInput

# Called by a transport just before the DATA command: the worker records
# `data_started_at` so a crash from then on makes the delivery `unknown`, not requeued.
BeforeData = Callable[[], Awaitable[None]]

DSN_RCPT_OPTIONS = ("NOTIFY=FAILURE,DELAY",)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope: the VERP return path, every recipient (To, Cc and Bcc), the DSN envelope id."""

    mail_from: str
    recipients: tuple[str, ...] | list[str]
    envid: str | None = None


@dataclass(slots=True)
class SendResult:
    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)  # recipient → "550 5.1.1 …"
    data_reply: str = ""  # the server's reply to the data, e.g. "250 2.0.0 Ok: queued as 4F2…"
    deferred: dict[str, str] = field(default_factory=dict)  # recipient → "450 4.2.1 …"


class SendError(Exception):
    """A send that did not complete. `str(error)` is a sentence for a finance person.

    `reply` is the server's reply when there was one ("451 4.3.0 …"); `refused` and
    `deferred` map recipients to the replies they got before the send stopped.
    """

    def __init__(
        self,
        message: str,
        *,
        reply: str | None = None,
        refused: dict[str, str] | None = None,
        deferred: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reply = reply
        self.refused = dict(refused or {})
        self.deferred = dict(deferred or {})


class TransientSendError(SendError):
    """Nothing was sent; trying again later may work (4xx, timeout or lost connection before DATA)."""


class PermanentSendError(SendError):
    """Nothing was sent, and the same send will fail again (a 5xx reply)."""


class AmbiguousSendError(SendError):
    """The connection failed after the message data was sent: it may have gone out. Never resend by itself."""


class TransportCheckFailed(SendError):
    """The mail server settings do not work (cannot connect, TLS, login refused); the reason says why."""


def refuse_if_nobody_accepted(accepted: list[str], refused: dict[str, str], deferred: dict[str, str]) -> None:
    """When the server took no recipient, nothing can be sent: say why, per recipient.

    Temporary when any recipient was only deferred (a retry may get through), else
    permanent. Both transports decide this here, so the in-memory one fails as SMTP does.
    """
    if accepted:
        return
    detail = "; ".join(f"{address}: {reply}" for address, reply in {**refused, **deferred}.items())
    error = TransientSendError if deferred else PermanentSendError
    raise error(f"The mail server refused every recipient ({detail}).", refused=refused, deferred=deferred)


def xtext(value: str) -> str:
    """RFC 3461 xtext: how an ENVID travels inside a MAIL FROM parameter."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in value)


def dsn_mail_options(envid: str | None) -> list[str]:
    """MAIL FROM parameters asking for headers-only bounces that carry our envelope id."""
    options = ["RET=HDRS"]
    if envid:
        options.append(f"ENVID={xtext(envid)}")
    return options


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    """What the mail server offered when it was verified; `smtputf8`: non-ASCII local parts (RFC 6531)."""

    smtputf8: bool = False


@dataclass(frozen=True, slots=True)
class WireEnvelope:
    """The envelope as the protocol carries it: domains in A-labels, each recipient keyed by how
    the caller gave it, the ones this server cannot take already `refused` with a reason."""

    mail_from: str
    recipients: dict[str, str]  # recipient as given → as sent in RCPT TO
    refused: dict[str, str]
    smtputf8: bool  # MAIL FROM must ask for SMTPUTF8


def wire_envelope(envelope: Envelope, data: bytes, *, server_smtputf8: bool) -> WireEnvelope:
    """Map the envelope to the wire for a server that does (not) offer SMTPUTF8.

    A recipient with a non-ASCII local part on a server without SMTPUTF8 is refused
    permanently (`553 5.6.7`, the RFC 6531 code) with a sentence saying why; a message whose
    own headers carry such an address cannot travel at all there (PermanentSendError).
    """
    try:
        sender = envelope_address(envelope.mail_from)
    except InvalidInput as exc:
        raise PermanentSendError(f"The return path is not a valid address: {exc}") from None
    if sender.needs_smtputf8 and not server_smtputf8:
        raise PermanentSendError(f"The return path {no_smtputf8_reason(envelope.mail_from)}.")
    recipients: dict[str, str] = {}
    refused: dict[str, str] = {}
    needs_utf8 = sender.needs_smtputf8
    for recipient in envelope.recipients:
        try:
            wire = envelope_address(recipient)
        except InvalidInput as exc:
            refused[recipient] = f"553 5.1.3 {exc}"
            continue
        if wire.needs_smtputf8 and not server_smtputf8:
            refused[recipient] = f"553 5.6.7 {no_smtputf8_reason(recipient)}"
            continue
        needs_utf8 = needs_utf8 or wire.needs_smtputf8
        recipients[recipient] = wire.wire
    end_of_headers = data.find(b"\r\n\r\n")
    headers_utf8 = not data[: end_of_headers if end_of_headers >= 0 else len(data)].isascii()
    if headers_utf8 and not server_smtputf8:
        detail = "; ".join(refused.values()) or "its headers are not ASCII"
        raise PermanentSendError(f"The mail server cannot carry this email (no SMTPUTF8): {detail}.", refused=refused)
    if not recipients:
        detail = "; ".join(f"{address}: {reply}" for address, reply in refused.items())
        raise PermanentSendError(f"The mail server cannot take any recipient ({detail}).", refused=refused)
    return WireEnvelope(sender.wire, recipients, refused, smtputf8=needs_utf8 or headers_utf8)


def as_bytes(message: bytes | EmailMessage) -> bytes:
    return message if isinstance(message, bytes) else message.as_bytes()


class Transport(Protocol):
    async def send(
        self, envelope: Envelope, message: bytes | EmailMessage, *, before_data: BeforeData | None = None
    ) -> SendResult:
        """Send one message; return what the server accepted or raise a `SendError` subclass."""
        ...

    async def verify(self) -> ServerFeatures:
        """Connect, greet and log in; return what the server offers, or raise `TransportCheckFailed`."""
        ...

    async def aclose(self) -> None:
        """Close every open connection."""
        ...
