"""The extra attachments' checks (services.sending.extra_files): limits and the type the bytes show."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.email.message import MAX_MESSAGE_BYTES, Attachment, OutgoingEmail, compose_message_bytes
from services.errors import FieldErrors
from services.sending.extra_files import (
    DOCX,
    MAX_TOTAL_BYTES,
    ODT,
    PDF,
    PNG,
    XLSX,
    ExtraFile,
    FileFacts,
    check_extra_files,
    check_extra_sizes,
    megabytes,
    safe_filename,
)

MB = 1024 * 1024


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)  # ZipInfo: stored uncompressed, as ODF puts `mimetype`
    return buffer.getvalue()


def _refusal(*files: ExtraFile) -> str:
    with pytest.raises(FieldErrors) as refused:
        check_extra_files(files)
    return refused.value.errors["extra_files"]


def test_sizes_are_said_in_megabytes_with_the_limit():
    assert megabytes(int(6.2 * MB)) == "6.2 MB" and megabytes(5 * MB) == "5 MB" and megabytes(10) == "0.1 MB"


def test_eleven_files_are_too_many():
    with pytest.raises(FieldErrors) as refused:
        check_extra_sizes([FileFacts(f"f{n}.pdf", 10) for n in range(11)])
    assert refused.value.errors == {"extra_files": "11 files are attached; at most 10 may be."}


def test_a_file_of_exactly_5_mb_passes_and_one_byte_more_does_not():
    check_extra_sizes([FileFacts("a.pdf", 5 * MB)])
    with pytest.raises(FieldErrors, match=r"a\.pdf is 5 MB; each file may be at most 5 MB"):
        check_extra_sizes([FileFacts("a.pdf", 5 * MB + 1)])


def test_the_types_are_decided_by_the_bytes():
    files = [
        ExtraFile("a.pdf", b"%PDF-1.7\n"),
        ExtraFile("b.PNG", b"\x89PNG\r\n\x1a\n...."),
        ExtraFile("c.xlsx", _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"})),
        ExtraFile("d.docx", _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<d/>"})),
        ExtraFile("e.odt", _zip({"mimetype": ODT.encode(), "content.xml": b"<c/>"})),
        ExtraFile("f.csv", "a;b\nä;1\n".encode()),
    ]
    assert [f.media_type for f in check_extra_files(files)] == [PDF, PNG, XLSX, DOCX, ODT, "text/csv"]


def test_programs_scripts_and_macros_are_refused_whatever_their_names():
    assert _refusal(ExtraFile("invoice.pdf", b"MZ\x90\x00")) == (
        "invoice.pdf is a Windows program; programs and scripts are never attached."
    )
    assert "is a Linux program" in _refusal(ExtraFile("report.txt", b"\x7fELF\x02"))
    assert "is a script" in _refusal(ExtraFile("notes.txt", b"#!/bin/sh\nrm -rf /\n"))
    assert "looks like a program or script" in _refusal(ExtraFile("run.bat", b"echo hi\r\n"))
    macro = _zip({"[Content_Types].xml": b"<T/>", "xl/workbook.xml": b"<w/>", "xl/vbaProject.bin": b"\0"})
    assert "contains macros" in _refusal(ExtraFile("book.xlsx", macro))


def test_a_name_that_says_another_type_than_the_bytes_is_refused():
    assert _refusal(ExtraFile("photo.pdf", b"\x89PNG\r\n\x1a\n")) == (
        "photo.pdf is a PNG image, not what its name says; rename it or pick the right file."
    )
    assert "is not a type that can be attached" in _refusal(ExtraFile("archive.zip", _zip({"x": b"y"})))
    assert "is not a type that can be attached" in _refusal(ExtraFile("blob.bin", b"\x00\x01\x02\xff"))


def test_every_refused_file_is_named_at_once():
    sentence = _refusal(ExtraFile("a.pdf", b"MZ"), ExtraFile("ok.pdf", b"%PDF-1.4"), ExtraFile("b.png", b"%PDF-1.4"))
    assert sentence.startswith("a.pdf is a Windows program") and "b.png is a PDF, not what its name says" in sentence


def test_file_names_lose_their_path_and_control_characters_and_keep_their_extension():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\Rechnung\r\n.pdf") == "Rechnung.pdf"
    assert safe_filename("a" * 300 + ".pdf").endswith(".pdf") and len(safe_filename("a" * 300 + ".pdf")) == 255
    assert safe_filename("...") == "attachment"


def test_the_largest_selection_allowed_fits_in_the_largest_email_composed():
    extras = [Attachment(f"part-{n}.pdf", b"%PDF-" + b"\0" * (5 * MB - 5), PDF) for n in range(5)]
    invoice = Attachment("INV-1.pdf", b"%PDF-" + b"\0" * MB, PDF)  # a generous invoice PDF
    message = compose_message_bytes(
        OutgoingEmail(
            from_addr="invoices@example.com", from_name=None, reply_to=None, to=["ap@acme.example"], cc=[], bcc=[],
            subject="Invoice INV-1", text="Hello", html="<p>Hello</p>", attachments=[invoice, *extras],
            message_id="<inv-1@example.com>", correlation_id="t",
        )
    )  # fmt: skip
    assert MAX_TOTAL_BYTES * 4 // 3 < len(message) <= MAX_MESSAGE_BYTES
