"""What reading a bounce message yields, and where a bounce names the email it returns.

Shared by the RFC 3464 reader (services.tracking.bounces) and the fallback for non-standard
bounces (services.tracking.bounce_fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum

from services.email.message import CORRELATION_HEADER, parse_verp_address
from services.tracking.dsn import header_text


class NotBounce(StrEnum):
    AUTO_REPLY = "auto-reply"
    UNPARSEABLE = "unparseable"


@dataclass(frozen=True)
class BouncedRecipient:
    """What the report says about one recipient."""

    recipient: str
    original_recipient: str | None
    action: str  # failed | delayed | delivered | relayed | expanded | "" (absent)
    status: str | None  # x.y.z
    event_type: str  # bounced | deferred | delivered
    bounce_kind: str | None  # hard | soft | None
    diagnostic: str | None
    remote_mta: str | None
    reason: str  # plain words, e.g. "the mailbox does not exist"
    note: str | None = None


@dataclass(frozen=True)
class BounceReport:
    kind: str  # rfc3464 | fallback
    recipients: tuple[BouncedRecipient, ...]
    dsn_message_id: str | None
    reporting_mta: str | None
    envid: str | None
    arrival_date: str | None
    original_message_id: str | None
    correlation_id: str | None  # our X-Invoicebot-Delivery header, from the returned headers
    verp_token: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class BounceReading:
    """A report, or why there is none (`not_bounce`) with a sentence in `detail`."""

    report: BounceReport | None
    not_bounce: NotBounce | None = None
    detail: str = ""


def first_date(*values: str | None) -> datetime | None:
    """The first of these date header values that parses, in UTC."""
    for value in values:
        if not value:
            continue
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            continue
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return None


def verp_token_in(message: Message, original: Message | None, envelope_to: str | None) -> str | None:
    """The VERP token of our return path `bounces+TOKEN@…`, wherever the bounce carries it."""
    candidates: list[str] = [envelope_to] if envelope_to else []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To"):
        candidates.extend(str(value) for value in message.get_all(name) or [])
    if original is not None:
        candidates.extend(str(value) for value in original.get_all("Return-Path") or [])
    candidates = [c for c in candidates if "+" in c]  # getaddresses is slow; VERP addresses have a +
    for _, address in getaddresses(candidates):
        token = parse_verp_address(address) if address else None
        if token:
            return token[:200]
    return None


def original_fields(original: Message | None) -> tuple[str | None, str | None]:
    """(Message-ID, X-Invoicebot-Delivery) of the returned original message."""
    if original is None:
        return None, None
    message_id = header_text(original, "Message-ID")
    correlation = header_text(original, CORRELATION_HEADER)
    return (message_id.replace(" ", "") if message_id else None), correlation
