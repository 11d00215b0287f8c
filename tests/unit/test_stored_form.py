"""The stored form of an email rebuilds the very bytes it was made from, whatever their shape."""

from __future__ import annotations

import base64

from services.email.message import Attachment, OutgoingEmail, compose_message_bytes
from services.email.stored_form import MIN_PIECE, pack_message, rebuild

PDF = b"%PDF-1.4\n1 0 obj\n<< /Length 5000 >>\nstream\r\n" + bytes(range(256)) * 20 + b"endstream\nendobj\n%%EOF\n"


def _email(content: bytes, name: str = "INV-1.pdf") -> bytes:
    return compose_message_bytes(
        OutgoingEmail(
            from_addr="invoices@example.com", from_name=None, reply_to=None, to=["ap@acme.example"], cc=[], bcc=[],
            subject="Invoice", text="Hello", html="<p>Hello</p>",
            attachments=[Attachment(name, content, "application/pdf")],
            message_id="<1@example.com>", correlation_id="tok1",
        )
    )  # fmt: skip


def test_an_attachment_is_a_blob_and_a_pdf_stream_one_of_its_own():
    data = _email(PDF)
    packed = pack_message(data)

    assert rebuild(packed.skeleton, packed.blobs) == data
    assert len(packed.blobs) == 2  # the attachment, and its stream (at least MIN_PIECE bytes)
    assert len(bytes(range(256)) * 20) >= MIN_PIECE


def test_two_emails_with_the_same_stream_share_its_blob():
    first = pack_message(_email(PDF))
    second = pack_message(_email(PDF.replace(b"%%EOF", b"%%EOF %")))

    assert set(first.blobs) & set(second.blobs)
    assert set(first.blobs) != set(second.blobs)


def test_base64_written_another_way_stays_literal_and_still_rebuilds():
    data = _email(b"x" * 3000)
    body = base64.encodebytes(b"x" * 3000).replace(b"\n", b"\r\n")
    odd = base64.b64encode(b"x" * 3000)
    odd_lines = b"".join(odd[i : i + 64] + b"\r\n" for i in range(0, len(odd), 64))
    reshaped = data.replace(body, odd_lines)
    assert reshaped != data

    packed = pack_message(reshaped)

    assert packed.blobs == {}
    assert rebuild(packed.skeleton, packed.blobs) == reshaped


def test_a_message_without_parts_rebuilds():
    data = b"Subject: hi\r\n\r\nno mime here\r\n--not a boundary\r\n"
    packed = pack_message(data)
    assert rebuild(packed.skeleton, packed.blobs) == data
    assert packed.size == len(data)
