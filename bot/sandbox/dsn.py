"""Build a real RFC 3464 delivery status notification, as a relay writes one after accepting an email.

The demo's SMTP server accepts every message (the sender's relay did its job) and, for the
deliberately bad addresses, writes what the customer's server would have caused: a
`multipart/report; report-type=delivery-status` with a human part, the machine part
(`message/delivery-status`: Reporting-MTA, Final-Recipient, Action, Status,
Diagnostic-Code) and the returned headers (`text/rfc822-headers`, as with `RET=HDRS`),
addressed to the message's return path — our VERP address `bounces+TOKEN@…`. The bounce
loop then reads it with exactly the parser it uses for Postfix's reports.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime, make_msgid


@dataclass(frozen=True)
class BounceRule:
    """How the demo's make-believe customer server refuses an address."""

    status: str  # RFC 3463, e.g. 5.1.1
    diagnostic: str  # the remote server's reply, e.g. "550 5.1.1 <x@y>: Recipient address rejected"


def _returned_headers(original: bytes) -> str:
    """The original message's header block only (what `RET=HDRS` returns)."""
    head = original.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in original else original.split(b"\n\n", 1)[0]
    return head.decode("utf-8", "replace").replace("\r\n", "\n").strip() + "\n"


@dataclass(frozen=True, kw_only=True)
class Relay:
    """The relay that writes the report: its host name, when it took the email (Arrival-Date) and
    when it gave up on it (Date)."""

    hostname: str
    arrived: datetime
    gave_up: datetime


def build_dsn(*, original: bytes, return_path: str, recipient: str, rule: BounceRule, relay: Relay) -> bytes:
    """The report for one failed `recipient` of `original`, sent by MAILER-DAEMON of `relay` to `return_path`."""
    reporting_mta, arrived, now = relay.hostname, relay.arrived, relay.gave_up
    parsed: Message = message_from_bytes(original, policy=compat32)
    subject = " ".join(str(parsed.get("Subject", "(no subject)")).split())
    domain = recipient.rpartition("@")[2]
    boundary = f"=_dsn_{secrets.token_hex(8)}"
    human = (
        f"This is the mail system at host {reporting_mta}.\n\n"
        "I'm sorry to have to inform you that your message could not be delivered to one or\n"
        "more recipients.\n\n"
        f"<{recipient}>: host mx.{domain} said: {rule.diagnostic}\n\n"
        f"The message's subject was: {subject}\n"
    )
    status = (
        f"Reporting-MTA: dns; {reporting_mta}\n"
        f"Arrival-Date: {format_datetime(arrived)}\n"
        "\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        f"Original-Recipient: rfc822; {recipient}\n"
        "Action: failed\n"
        f"Status: {rule.status}\n"
        f"Remote-MTA: dns; mx.{domain}\n"
        f"Diagnostic-Code: smtp; {rule.diagnostic}\n"
    )
    text = (
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>\n"
        f"To: {return_path}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Date: {format_datetime(now)}\n"
        f"Message-ID: {make_msgid(domain=reporting_mta)}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n'
        "\n"
        "This is a MIME-encapsulated message.\n"
        f"\n--{boundary}\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        f"{human}"
        f"\n--{boundary}\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"{status}"
        f"\n--{boundary}\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        f"{_returned_headers(original)}"
        f"\n--{boundary}--\n"
    )
    return text.replace("\n", "\r\n").encode("utf-8")
