"""One reason in words for a recipient's problem: an SMTP refusal and a bounce of the same kind read alike."""

from __future__ import annotations

import pytest

from services.tracking.precedence import reason_in_words


def test_an_smtp_refusal_and_a_dsn_with_the_same_status_code_say_the_same_words() -> None:
    refused_at_rcpt = reason_in_words("failed", "550 5.1.1 <ap@acme.example>: Recipient address rejected")
    bounced_later = reason_in_words("bounced", "5.1.1")
    assert refused_at_rcpt == bounced_later == "the mailbox does not exist"


@pytest.mark.parametrize(
    ("kind", "reply", "words"),
    [
        ("failed", "550 Requested action not taken", "the mailbox is unavailable"),
        ("failed", "452 Too many recipients", "a temporary problem at the receiving server"),
        ("failed", "553 5.4.1 Recipient address rejected: Access denied", "the receiving server refused the address"),
        ("complained", None, "the recipient marked the email as spam"),
        (
            "unknown",
            "connection lost after DATA",
            "the connection broke after the email was handed over; check before resending",
        ),
        ("failed", "", "the receiving server refused the email"),
    ],
)
def test_the_reason_comes_from_the_enhanced_code_then_the_reply_code_then_the_kind(
    kind: str, reply: str | None, words: str
) -> None:
    assert reason_in_words(kind, reply) == words
