"""Reading bounce messages as Postfix, Exim, Office 365 and Gmail write them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.tracking.bounces import NotBounce, events_from_report, parse_bounce, read_bounce
from services.tracking.dsn import reason_for_status
from tests.fixtures.dsn import NAMES, load_dsn

TOKEN = "k7q2mzn3v5x4a6b7c8d9e0f1gh-abcdefghij2345"
MESSAGE_ID = "<inv-INV-0001-3f9c0a1b2c3d4e5f6a7b8c9d@example.com>"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def dsn(name: str) -> bytes:
    return load_dsn(name, token=TOKEN, message_id=MESSAGE_ID)


def test_postfix_hard_bounce_names_the_recipient_status_and_original_message() -> None:
    report = parse_bounce(dsn("postfix_hard_5.1.1.eml"))

    assert report is not None and report.kind == "rfc3464"
    assert report.reporting_mta == "mail.example.com"
    assert report.envid == TOKEN
    assert report.arrival_date == "Mon, 23 Nov 2026 10:15:02 +0000 (UTC)"
    assert report.original_message_id == MESSAGE_ID
    assert report.correlation_id == TOKEN
    assert report.verp_token == TOKEN
    [recipient] = report.recipients
    assert recipient.recipient == "nobody@acme.example"
    assert (recipient.action, recipient.status, recipient.event_type, recipient.bounce_kind) == (
        "failed",
        "5.1.1",
        "bounced",
        "hard",
    )
    assert recipient.remote_mta == "mx1.acme.example"
    assert recipient.diagnostic is not None and "User unknown in virtual mailbox table" in recipient.diagnostic
    assert recipient.reason == "the mailbox does not exist"


def test_failed_action_with_a_4xx_status_is_a_soft_bounce_with_a_note() -> None:
    report = parse_bounce(dsn("postfix_failed_4.2.1.eml"))

    assert report is not None
    [recipient] = report.recipients
    assert (recipient.action, recipient.status) == ("failed", "4.2.1")
    assert (recipient.event_type, recipient.bounce_kind) == ("bounced", "soft")
    assert recipient.note == "the report says 'failed', but 4.2.1 is a temporary status"


def test_delayed_report_is_deferred_not_a_bounce() -> None:
    report = parse_bounce(dsn("postfix_delayed.eml"))

    assert report is not None
    [recipient] = report.recipients
    assert (recipient.event_type, recipient.bounce_kind, recipient.status) == ("deferred", "soft", "4.4.1")
    assert recipient.reason == "the receiving server did not answer"


def test_success_report_relayed_to_the_recipients_server_is_delivered() -> None:
    report = parse_bounce(dsn("postfix_delivered.eml"))

    assert report is not None
    [recipient] = report.recipients
    assert (recipient.recipient, recipient.event_type, recipient.bounce_kind) == ("ap@acme.example", "delivered", None)


def test_exim_report_with_two_recipients_reports_each_with_the_code_from_its_diagnostic() -> None:
    report = parse_bounce(dsn("exim_two_recipients.eml"))

    assert report is not None
    assert [(r.recipient, r.status, r.reason) for r in report.recipients] == [
        ("gone@acme.example", "5.1.1", "the mailbox does not exist"),
        ("full@acme.example", "5.2.2", "mailbox full"),
    ]
    assert report.original_message_id == MESSAGE_ID  # from the returned message/rfc822 part
    assert report.verp_token == TOKEN  # from Envelope-to / To


def test_office365_ndr_is_read_behind_its_html_explanation() -> None:
    report = parse_bounce(dsn("office365_ndr.eml"))

    assert report is not None
    [recipient] = report.recipients
    assert recipient.recipient == "former.employee@acme-corp.example"
    assert (recipient.status, recipient.bounce_kind) == ("5.1.10", "hard")
    assert "RecipientNotFound" in (recipient.diagnostic or "")
    assert report.correlation_id == TOKEN


def test_gmail_spam_rejection_says_rejected_as_spam() -> None:
    report = parse_bounce(dsn("gmail_spam_rejection.eml"))

    assert report is not None
    [recipient] = report.recipients
    assert recipient.status == "5.7.1"
    assert recipient.reason.startswith("rejected as spam")
    assert report.original_message_id == MESSAGE_ID
    assert report.occurred_at == datetime(2026, 11, 23, 10, 18, 40, tzinfo=UTC)


@pytest.mark.parametrize("name", ["out_of_office.eml", "automatic_reply_subject_only.eml"])
def test_out_of_office_reply_is_not_a_bounce(name: str) -> None:
    reading = read_bounce(dsn(name))

    assert reading.report is None
    assert reading.not_bounce == NotBounce.AUTO_REPLY
    assert reading.detail.startswith("not a bounce: auto-reply")


def test_non_standard_exim_bounce_is_read_by_the_fallback_as_hard() -> None:
    report = parse_bounce(dsn("exim_plain_text_legacy.eml"))

    assert report is not None and report.kind == "fallback"
    [recipient] = report.recipients
    assert (recipient.recipient, recipient.event_type, recipient.bounce_kind) == (
        "olduser@legacy.example",
        "bounced",
        "hard",
    )
    assert report.original_message_id == MESSAGE_ID
    assert report.verp_token == TOKEN


def test_non_standard_bounce_without_permanent_words_is_soft() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@relay.example.net>\r\n"
        b"To: bounces+" + TOKEN.encode() + b"@bounce.example.com\r\n"
        b"X-Failed-Recipients: later@acme.example\r\n"
        b"Subject: Mail delivery failed\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. The following address(es) failed:\r\n\r\n  later@acme.example\r\n"
        b"    retry timeout exceeded\r\n"
    )
    report = parse_bounce(raw)

    assert report is not None
    [recipient] = report.recipients
    assert (recipient.recipient, recipient.bounce_kind) == ("later@acme.example", "soft")


def test_a_plain_human_reply_is_unparseable_not_an_error() -> None:
    raw = b"From: ap@acme.example\r\nTo: bounces@example.com\r\nSubject: Re: invoice\r\n\r\nThanks, paid today.\r\n"

    reading = read_bounce(raw)

    assert reading.report is None and reading.not_bounce == NotBounce.UNPARSEABLE


def test_report_without_per_message_block_and_with_a_latin1_diagnostic() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.de\r\nTo: bounces+" + TOKEN.encode() + b"@bounce.example.com\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Final-Recipient: rfc822; m\xfcller@acme.example\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        b"Diagnostic-Code: smtp; 552 Postfach voll \xfcberschritten\r\n\r\n--XX--\r\n"
    )
    report = parse_bounce(raw)

    assert report is not None
    [recipient] = report.recipients
    assert recipient.status == "5.2.2" and recipient.reason == "mailbox full"
    assert recipient.recipient.endswith("@acme.example")


def test_truncated_report_keeps_the_recipients_it_has() -> None:
    whole = dsn("exim_two_recipients.eml")
    cut = whole[: whole.index(b"Action: failed\nFinal-Recipient: rfc822;full")]

    report = parse_bounce(cut)

    assert report is not None
    assert [r.recipient for r in report.recipients] == ["gone@acme.example"]


def test_each_recipient_becomes_one_dsn_event_with_a_stable_id() -> None:
    raw = dsn("exim_two_recipients.eml")
    report = parse_bounce(raw)
    assert report is not None

    first = events_from_report(report, raw=raw, now=NOW)
    again = events_from_report(report, raw=raw, now=NOW)

    assert [(e.source, e.type, e.recipient, e.bounce_kind, e.status_code) for e in first] == [
        ("dsn", "bounced", "gone@acme.example", "hard", "5.1.1"),
        ("dsn", "bounced", "full@acme.example", "hard", "5.2.2"),
    ]
    assert [e.source_event_id for e in first] == [e.source_event_id for e in again]
    assert len({e.source_event_id for e in first}) == 2
    assert all(e.verp_token == TOKEN and e.message_id == MESSAGE_ID and e.envid == TOKEN for e in first)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("5.1.1", "the mailbox does not exist"),
        ("4.2.2", "mailbox full"),
        ("5.2.2", "mailbox full"),
        ("5.7.1", "rejected as spam or by the recipient's policy"),
        ("5.7.23", "rejected as spam"),
        ("5.9.9", "the receiving server refused the email"),
        (None, "the receiving server gave no reason"),
    ],
)
def test_status_codes_are_said_in_plain_words(code: str | None, words: str) -> None:
    assert reason_for_status(code) == words


def test_every_fixture_is_read_without_error() -> None:
    for name in NAMES:
        reading = read_bounce(dsn(name))
        assert reading.report is not None or reading.not_bounce == NotBounce.AUTO_REPLY, name
