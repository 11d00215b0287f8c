"""How a scripted mail server behaves, shared by the in-memory transport and the local SMTP server.

One `SmtpScript` drives both `memory.InMemoryTransport` and the sandbox's
`ScriptedSmtpServer`, so the same contract tests (and the demo) script failures the
same way: a reply per recipient, a reply to the data, a hang, a dropped connection.
Replies are full SMTP reply lines such as "550 5.1.1 No such user". A reply starting
with 421 closes the connection after it is sent, as real servers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Literal

HangPoint = Literal["MAIL", "RCPT", "DATA", "END_OF_DATA"]


@dataclass
class SmtpScript:
    """What the server answers. `*_once` variants apply to the next occurrence only.

    hang_on: never answer the MAIL or RCPT command, the DATA command itself, or the end of
    the message data (`END_OF_DATA`). drop_after_data: receive the whole message, then close
    the connection without replying (the client cannot know whether it was accepted).
    """

    advertise_dsn: bool = False
    smtputf8: bool = True  # offer SMTPUTF8 (RFC 6531): non-ASCII local parts on the envelope and in headers
    reply_mail: str | None = None
    reply_mail_once: str | None = None
    reply_rcpt: dict[str, str] = field(default_factory=dict)
    reply_rcpt_once: dict[str, str] = field(default_factory=dict)
    reply_data: str | None = None
    reply_data_once: str | None = None
    hang_on: HangPoint | None = None
    drop_after_data: bool = False
    drop_after_data_once: bool = False

    def take_mail_reply(self) -> str | None:
        reply, self.reply_mail_once = self.reply_mail_once, None
        return reply or self.reply_mail

    def take_rcpt_reply(self, address: str) -> str | None:
        key = address.strip().lower()
        once = {k.lower(): k for k in self.reply_rcpt_once}
        if key in once:
            return self.reply_rcpt_once.pop(once[key])
        return {k.lower(): v for k, v in self.reply_rcpt.items()}.get(key)

    def take_data_reply(self) -> str | None:
        reply, self.reply_data_once = self.reply_data_once, None
        return reply or self.reply_data

    def take_drop_after_data(self) -> bool:
        once, self.drop_after_data_once = self.drop_after_data_once, False
        return once or self.drop_after_data


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message a scripted server accepted (or received before dropping the connection)."""

    mail_from: str
    recipients: list[str]
    mail_options: list[str]
    rcpt_options: list[str]
    data: bytes
    queue_id: str
    connection: int  # 1 for the first connection the server saw, 2 for the next, …

    @property
    def message(self) -> EmailMessage:
        """The message parsed back, as a receiving mail client would read it."""
        return BytesParser(policy=policy.default).parsebytes(self.data)


def queued_reply(queue_id: str) -> str:
    """The reply a scripted server gives to accepted data, carrying its queue id like Postfix."""
    return f"250 2.0.0 Ok: queued as {queue_id}"


def reply_code(reply: str) -> int:
    """The three-digit code of an SMTP reply line ("450 4.2.1 …" → 450)."""
    return int(reply[:3])
