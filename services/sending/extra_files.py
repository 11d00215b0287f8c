"""Extra attachments (issue 16): the limits, and what a file really is, decided from its bytes.

A person adds up to 10 files to the review modal; each may be at most 5 MB and all together
25 MB. The limits are checked twice: on the sizes Slack reports (`check_extra_sizes`, before
anything is downloaded, so the modal can say it inline at once), and on the bytes themselves
(`check_extra_files`), which also decide the type.

The type comes from the content's magic bytes, never from the file name or the mimetype Slack
was told: a small table rather than a library, because the handful of types a finance team
attaches each have a fixed signature, and the two zip-based families (OOXML, OpenDocument) need
a look inside the archive that generic sniffers only guess at. A file whose bytes are an
executable or a script, a macro-enabled office file, a type not on the list, or a name whose
extension says something else than the bytes (an .exe renamed .pdf) is refused with a sentence.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from services.errors import FieldErrors

MAX_EXTRA_FILES = 10
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024
FIELD = "extra_files"  # the review modal's field the sentences belong to

PDF, PNG, JPEG, TEXT, CSV = "application/pdf", "image/png", "image/jpeg", "text/plain", "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

# media type → (what a person calls it, the file name extensions that may carry it)
ALLOWED: dict[str, tuple[str, frozenset[str]]] = {
    PDF: ("a PDF", frozenset({".pdf"})),
    PNG: ("a PNG image", frozenset({".png"})),
    JPEG: ("a JPEG image", frozenset({".jpg", ".jpeg"})),
    TEXT: ("a text file", frozenset({".txt", ".text", ".csv", ""})),  # a .csv is sent as text/csv
    XLSX: ("an Excel workbook", frozenset({".xlsx"})),
    DOCX: ("a Word document", frozenset({".docx"})),
    ODT: ("an OpenDocument text", frozenset({".odt"})),
    ODS: ("an OpenDocument spreadsheet", frozenset({".ods"})),
}
ALLOWED_WORDS = "PDF, PNG, JPEG, text or CSV, Excel (.xlsx), Word (.docx) or OpenDocument (.odt, .ods)"

# Signatures of what is never attached: programs and scripts (Windows, Linux, macOS, Java).
_EXECUTABLES = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\xce\xfa\xed\xfe", "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script"),
)
_SCRIPT_EXTENSIONS = frozenset({".exe", ".bat", ".cmd", ".com", ".js", ".vbs", ".ps1", ".sh", ".scr", ".msi", ".jar"})


@dataclass(frozen=True)
class FileFacts:
    """What Slack says of a file before it is downloaded: its name and size in bytes."""

    filename: str
    size: int


@dataclass(frozen=True)
class ExtraFile:
    """An uploaded file as fetched: the name the person gave it and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check, with the media type its bytes showed."""

    filename: str
    content: bytes
    media_type: str


def megabytes(size: int) -> str:
    """`6.2 MB`, `5 MB` (MB = 1024 × 1024 bytes, the unit of the limits); a small file never reads `0 MB`."""
    return f"{max(size / 1024 / 1024, 0.1):.1f}".removesuffix(".0") + " MB"


def check_extra_sizes(files: Sequence[FileFacts]) -> None:
    """Count ≤ 10, each ≤ 5 MB, all ≤ 25 MB; raises FieldErrors (field `extra_files`) saying which and by how much."""
    problems: list[str] = []
    if len(files) > MAX_EXTRA_FILES:
        problems.append(f"{len(files)} files are attached; at most {MAX_EXTRA_FILES} may be.")
    problems += [
        f"{f.filename} is {megabytes(f.size)}; each file may be at most {megabytes(MAX_FILE_BYTES)}."
        for f in files
        if f.size > MAX_FILE_BYTES
    ]
    total = sum(f.size for f in files)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"These files total {megabytes(total)}; at most {megabytes(MAX_TOTAL_BYTES)} in all.")
    if problems:
        raise FieldErrors({FIELD: " ".join(problems)})


def check_extra_files(files: Sequence[ExtraFile]) -> tuple[CheckedFile, ...]:
    """The files with their media types, or FieldErrors naming every file refused and why."""
    check_extra_sizes([FileFacts(f.filename, len(f.content)) for f in files])
    checked: list[CheckedFile] = []
    problems: list[str] = []
    for file in files:
        refusal = _refusal(file)
        if isinstance(refusal, str):
            problems.append(refusal)
        else:
            checked.append(CheckedFile(safe_filename(file.filename), file.content, refusal[0]))
    if problems:
        raise FieldErrors({FIELD: " ".join(problems)})
    return tuple(checked)


def safe_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 characters (extension kept)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(c for c in base if c.isprintable()).strip().lstrip(".") or "attachment"
    if len(cleaned) <= 255:
        return cleaned
    suffix = PurePosixPath(cleaned).suffix[:16]
    return cleaned[: 255 - len(suffix)] + suffix


def sniff_media_type(content: bytes) -> str | None:
    """The allowed media type the bytes show, or None (unknown, or not allowed)."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _zip_type(content)
    return _text_type(content)


def _refusal(file: ExtraFile) -> str | tuple[str]:
    """Why `file` is refused (a sentence), or a one-tuple of its media type."""
    name = safe_filename(file.filename)
    extension = PurePosixPath(name).suffix.lower()
    for magic, what in _EXECUTABLES:
        if file.content.startswith(magic):
            return f"{name} is {what}; programs and scripts are never attached."
    if extension in _SCRIPT_EXTENSIONS:
        return f"{name} looks like a program or script by its name; programs and scripts are never attached."
    if file.content.startswith(b"PK\x03\x04") and _has_macros(file.content):
        return f"{name} contains macros; save it without macros (.xlsx, .docx) and attach it again."
    media_type = sniff_media_type(file.content)
    if media_type is None:
        return f"{name} is not a type that can be attached ({ALLOWED_WORDS})."
    words, extensions = ALLOWED[media_type]
    if extension not in extensions:
        return f"{name} is {words}, not what its name says; rename it or pick the right file."
    return (CSV if media_type == TEXT and extension == ".csv" else media_type,)


def _zip_members(content: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return []


def _zip_type(content: bytes) -> str | None:
    """OOXML by its main part; OpenDocument by its first, uncompressed `mimetype` member."""
    members = set(_zip_members(content))
    if "[Content_Types].xml" in members:
        if "xl/workbook.xml" in members:
            return XLSX
        if "word/document.xml" in members:
            return DOCX
        return None
    if "mimetype" in members:
        declared = content[38 : 38 + 64]  # the first member's data, stored uncompressed by the format's rule
        for media_type in (ODT, ODS):
            if declared.startswith(media_type.encode("ascii")) and not declared.startswith(
                (media_type + "-").encode("ascii")
            ):
                return media_type
    return None


def _has_macros(content: bytes) -> bool:
    return any(member.lower().endswith("vbaproject.bin") for member in _zip_members(content))


def _text_type(content: bytes) -> str | None:
    """Plain UTF-8 text without NUL bytes (CSV is text too; its name tells it apart)."""
    if b"\x00" in content:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return TEXT
