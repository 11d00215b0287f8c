"""Whether an invoice can be sent, in words: the reasons it is not ready, and the sender's state.

A leaf of the sending context, shared by the due listing, the review, the checks before
a request and bulk sending: `SendingState` (can this organisation send at all — built
from its row and the settings by `sending_state`) and `Problem` / `NotReadyReason`
(why one invoice may not go out now). Kept apart from services.sending.due so that
neither the callers nor the invoicing context need the due listing's queries to name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.db.models import Organisation, SmtpStatus


class NotReadyReason(StrEnum):
    NO_EMAIL = "no_email"
    DRAFT = "draft"
    SENDING_NOT_CONFIGURED = "sending_not_configured"
    SENDING_PAUSED = "sending_paused"
    SMTP_NOT_VERIFIED = "smtp_not_verified"
    SUPPRESSED = "suppressed"
    # The latest email: a person must look before the invoice goes out again (README, "Invoice states").
    NOT_RECEIVED = "not_received"
    MAY_HAVE_ARRIVED = "may_have_arrived"
    BEING_SENT = "being_sent"


@dataclass(frozen=True)
class Problem:
    reason: NotReadyReason
    message: str


@dataclass(frozen=True)
class SendingState:
    """Whether this organisation can send at all: passed in by the caller (settings + org row)."""

    configured: bool
    verified: bool
    detail: str | None = None  # why verification failed, when it did
    paused: str | None = None  # why this organisation's sending is paused (its Slack install is gone)

    def problems(self) -> list[Problem]:
        if self.paused:
            return [Problem(NotReadyReason.SENDING_PAUSED, f"sending is paused: {self.paused}")]
        if not self.configured:
            return [Problem(NotReadyReason.SENDING_NOT_CONFIGURED, "sending is not configured (no SMTP server is set)")]
        if not self.verified:
            why = f": {self.detail}" if self.detail else ""
            return [Problem(NotReadyReason.SMTP_NOT_VERIFIED, f"SMTP settings are not verified{why}")]
        return []


def sending_state(organisation: Organisation, *, smtp_configured: bool) -> SendingState:
    return SendingState(
        configured=smtp_configured,
        verified=organisation.smtp_status == SmtpStatus.VERIFIED,
        detail=organisation.smtp_status_reason if organisation.smtp_status == SmtpStatus.FAILED else None,
        paused=organisation.sending_paused,
    )
