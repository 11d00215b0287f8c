"""The MIME message: both bodies, attachments, identity headers, no header injection, signed VERP."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from services.email.message import (
    MAX_MESSAGE_BYTES,
    Attachment,
    OutgoingEmail,
    compose_message,
    compose_message_bytes,
    envelope_recipients,
    make_message_id,
)
from services.errors import InvalidInput
from tests.factories import body_text

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
UBL = b'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
SECRET = b"a-verp-secret-of-32-bytes-length"


def _compose(**changes: object) -> EmailMessage:
    arguments: dict[str, object] = {
        "from_addr": "invoices@example.com",
        "from_name": "Société Générale d'Exemple",
        "reply_to": "accounts@example.com",
        "to": ["ap@acme.example", "finance@acme.example"],
        "cc": ["boss@acme.example"],
        "bcc": ["archive@example.com"],
        "subject": "Facture INV-0042 — échéance 31 octobre",
        "text": "Bonjour Acme,\n\nVeuillez trouver la facture ci-jointe.\n",
        "html": "<p>Bonjour Acme,</p><p>Veuillez trouver la facture ci-jointe.</p>",
        "attachments": [
            Attachment("INV-0042.pdf", PDF, "application/pdf"),
            Attachment("INV-0042.xml", UBL, "application/xml"),
        ],
        "message_id": "<20261101.abc123@example.com>",
        "correlation_id": "42",
    }
    arguments.update(changes)
    return compose_message(OutgoingEmail(**arguments))  # type: ignore[arg-type]


def _parse(message: EmailMessage) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes())


def test_the_message_parses_back_with_both_bodies_and_the_attachments():
    parsed = _parse(_compose())

    assert parsed.get_content_type() == "multipart/mixed"
    alternative = next(parsed.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = body_text(parsed, "plain").replace("\r\n", "\n")  # as a mail client reads it
    assert text == "Bonjour Acme,\n\nVeuillez trouver la facture ci-jointe.\n"
    assert "<p>Bonjour Acme,</p>" in body_text(parsed, "html")
    attachments = {a.get_filename(): (a.get_content_type(), a.get_content()) for a in parsed.iter_attachments()}
    assert attachments == {"INV-0042.pdf": ("application/pdf", PDF), "INV-0042.xml": ("application/xml", UBL)}


def test_the_identity_headers_are_set_and_non_ascii_survives():
    parsed = _parse(_compose())

    assert parsed["From"].addresses[0].display_name == "Société Générale d'Exemple"
    assert parsed["From"].addresses[0].addr_spec == "invoices@example.com"
    assert parsed["Reply-To"] == "accounts@example.com"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ap@acme.example", "finance@acme.example"]
    assert parsed["Cc"] == "boss@acme.example"
    assert parsed["Subject"] == "Facture INV-0042 — échéance 31 octobre"
    assert parsed["Message-ID"] == "<20261101.abc123@example.com>"
    assert parsed["X-Invoicebot-Delivery"] == "42"
    assert parsed["Date"] is not None


def test_bcc_never_appears_in_the_message_but_is_in_the_envelope():
    raw = _compose().as_bytes()
    assert b"archive@example.com" not in raw
    assert b"Bcc" not in raw
    everyone = envelope_recipients(
        ["ap@acme.example"], ["boss@acme.example", "AP@acme.example"], ["archive@example.com"]
    )
    assert everyone == ["ap@acme.example", "boss@acme.example", "archive@example.com"]


@pytest.mark.parametrize("field", ["subject", "from_name"])
def test_a_line_break_in_a_header_value_cannot_inject_a_header(field: str):
    with pytest.raises(InvalidInput, match="cannot contain line breaks"):
        _compose(**{field: "Invoice INV-1\r\nBcc: evil@x.example"})


def test_a_line_break_in_an_address_or_an_attachment_name_is_refused():
    with pytest.raises(InvalidInput):
        _compose(to=["ap@acme.example\r\nBcc: evil@x.example"])
    with pytest.raises(InvalidInput):
        _compose(attachments=[Attachment("a.pdf\r\nBcc: evil@x.example", PDF, "application/pdf")])


def test_an_email_over_the_size_limit_is_refused_with_its_size():
    huge = Attachment("scan.pdf", b"\x00" * (27 * 1024 * 1024), "application/pdf")  # base64 adds a third
    with pytest.raises(InvalidInput, match=r"make this email 3\d\.\d MB; mail servers commonly refuse more than 36 MB"):
        _compose(attachments=[huge])
    assert MAX_MESSAGE_BYTES == 36 * 1024 * 1024, "25 MB of extra attachments and the invoice, encoded, fit"


def test_message_ids_are_unique_and_on_our_domain():
    ids = {make_message_id("Example.com") for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"<\d{14}\.[0-9a-f]{24}@example\.com>", i) for i in ids)


def test_the_bytes_sent_are_crlf_lines_within_the_smtp_limit_and_parse_back_whole():
    long_html = "<p>" + "Montant dû : 1 234,56 € " * 40 + "</p>"  # one long non-ASCII line
    raw = compose_message_bytes(
        OutgoingEmail(
            from_addr="invoices@example.com",
            from_name='Acme "Billing", Inc.',
            reply_to=None,
            to=["ap@acme.example"],
            cc=[],
            bcc=["archive@example.com"],
            subject="Invoice INV-0042 " + "for the consulting work delivered in October " * 3,
            text="Line one\r\nLine two\rLine three\n",
            html=long_html,
            attachments=[Attachment("Facture n°42.pdf", PDF, "application/pdf")],
            message_id="<20261101.abc123@example.com>",
            correlation_id="42",
        )
    )
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 998
    assert b"archive@example.com" not in raw
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["From"].addresses[0].display_name == 'Acme "Billing", Inc.'
    assert parsed["Subject"] == "Invoice INV-0042 " + "for the consulting work delivered in October " * 3
    assert body_text(parsed, "plain").splitlines() == ["Line one", "Line two", "Line three"]
    assert body_text(parsed, "html").rstrip("\r\n") == long_html
    [attachment] = parsed.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("Facture n°42.pdf", PDF)


def test_without_attachments_the_message_is_just_the_two_bodies():
    parsed = _parse(_compose(attachments=[]))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_a_subject_that_looks_like_an_encoded_word_is_read_literally():
    assert _parse(_compose(subject="Ref =?utf-8?q?x?= INV-1"))["Subject"] == "Ref =?utf-8?q?x?= INV-1"


def test_a_malformed_attachment_type_is_refused():
    with pytest.raises(InvalidInput, match="is not a MIME type"):
        _compose(attachments=[Attachment("a.pdf", PDF, "application/pdf\r\nBcc: evil@x.example")])
