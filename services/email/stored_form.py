"""The stored form of a message as sent: small, and rebuilt byte for byte.

A message is kept as a *recipe*: a list of literal byte runs and references to blobs by
their SHA-256. `pack_message` finds each base64 attachment body in the raw MIME, decodes it
and keeps it as a blob (re-encoding it must give the very same lines, else the body stays
literal); inside a PDF, every stream of 4 KB or more (embedded fonts, images: the same in every
invoice) is a blob of its own. Literals are zlib-compressed together with the recipe, so the
skeleton of an email (headers, text, HTML, the PDF's own page content) costs a few KB and a
font embedded in ten thousand invoices is stored once.

Nothing here guesses: `pack_message` checks that the recipe rebuilds the input exactly and
falls back to keeping the whole message literal when it does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

MIN_PIECE = 4096  # a PDF stream at least this long is worth a blob of its own
_LEVEL = 6
_PART_HEAD = re.compile(rb"\r\n--[^\r\n]+\r\n((?:[^\r\n]+\r\n)+)\r\n")
_BASE64 = re.compile(rb"content-transfer-encoding:\s*base64", re.IGNORECASE)
_ATTACHMENT = re.compile(rb"content-disposition:\s*attachment", re.IGNORECASE)
_PDF_STREAM = re.compile(rb"stream\r?\n")


@dataclass(frozen=True)
class PackedMessage:
    """`skeleton`: the packed recipe of the message; `blobs`: digest → packed content of every
    blob it uses (directly or through another blob); `size`: bytes of the message itself."""

    skeleton: bytes
    blobs: Mapping[str, bytes]
    size: int

    @property
    def stored_size(self) -> int:
        return len(self.skeleton) + sum(len(blob) for blob in self.blobs.values())


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered message and its stored form, packed where it was rendered (a render process)."""

    data: bytes
    packed: PackedMessage


Item = int | tuple[str, str]  # n literal bytes, or ("blob" | "b64", digest)


def _encode(items: list[Item], literals: bytes) -> bytes:
    head = json.dumps([item if isinstance(item, int) else list(item) for item in items]).encode()
    return zlib.compress(struct.pack(">I", len(head)) + head + literals, _LEVEL)


def _decode(packed: bytes) -> tuple[list[Item], bytes]:
    raw = zlib.decompress(packed)
    (length,) = struct.unpack(">I", raw[:4])
    items = [item if isinstance(item, int) else (item[0], item[1]) for item in json.loads(raw[4 : 4 + length])]
    return items, raw[4 + length :]


def mime_base64(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines: how services.email.message writes an attachment."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_PIECES: dict[str, bytes] = {}  # per process: the fonts of every invoice are packed once
_PIECES_KEPT = 64


def _piece(digest: str, piece: bytes) -> bytes:
    packed = _PIECES.get(digest)
    if packed is None:
        packed = _encode([len(piece)], piece)
        if len(_PIECES) >= _PIECES_KEPT:
            _PIECES.pop(next(iter(_PIECES)))
        _PIECES[digest] = packed
    return packed


class _Packer:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def blob(self, content: bytes) -> str:
        """Store `content` as a blob (its PDF streams as blobs of their own); returns its digest."""
        digest = digest_of(content)
        if digest not in self.blobs:
            self.blobs[digest] = self._content_recipe(content)
        return digest

    def _content_recipe(self, content: bytes) -> bytes:
        if not content.startswith(b"%PDF"):
            return _encode([len(content)], content)
        items: list[Item] = []
        literals: list[bytes] = []
        position = 0
        for match in _PDF_STREAM.finditer(content):
            start = match.end()
            end = content.find(b"endstream", start)
            if match.start() < position or end < 0 or end - start < MIN_PIECE:
                continue
            if start > position:
                items.append(start - position)
                literals.append(content[position:start])
            piece = content[start:end]
            digest = digest_of(piece)
            self.blobs[digest] = _piece(digest, piece)
            items.append(("blob", digest))
            position = end
        items.append(len(content) - position)
        literals.append(content[position:])
        return _encode(items, b"".join(literals))

    def message(self, data: bytes) -> bytes:
        items: list[Item] = []
        literals: list[bytes] = []
        position = 0
        for match in _PART_HEAD.finditer(data):
            head, start = match.group(1), match.end()
            if start < position or not (_BASE64.search(head) and _ATTACHMENT.search(head)):
                continue
            end = data.find(b"\r\n--", start)
            if end < 0:
                continue
            body = data[start:end]
            try:
                content = base64.b64decode(body, validate=False)
            except ValueError:
                continue
            if mime_base64(content) != body:
                continue  # not written the way we rebuild it: it stays literal
            items.append(start - position)
            literals.append(data[position:start])
            items.append(("b64", self.blob(content)))
            position = end
        items.append(len(data) - position)
        literals.append(data[position:])
        return _encode(items, b"".join(literals))


def pack_message(data: bytes) -> PackedMessage:
    """The stored form of `data`; rebuilding it gives `data` exactly (checked here)."""
    packer = _Packer()
    skeleton = packer.message(data)
    packed = PackedMessage(skeleton=skeleton, blobs=dict(packer.blobs), size=len(data))
    if rebuild(packed.skeleton, packed.blobs) != data:  # pragma: no cover - a recipe that lost a byte
        return PackedMessage(skeleton=_encode([len(data)], data), blobs={}, size=len(data))
    return packed


def blob_references(packed: bytes) -> list[str]:
    """The digests a recipe names directly."""
    items, _ = _decode(packed)
    return [item[1] for item in items if not isinstance(item, int)]


def rebuild(skeleton: bytes, blobs: Mapping[str, bytes]) -> bytes:
    """The message bytes from its recipe and the packed blobs it uses (KeyError: a blob is missing)."""
    cache: dict[str, bytes] = {}

    def content(digest: str) -> bytes:
        if digest not in cache:
            cache[digest] = expand(blobs[digest])
        return cache[digest]

    def expand(packed: bytes) -> bytes:
        items, literals = _decode(packed)
        out: list[bytes] = []
        position = 0
        for item in items:
            if isinstance(item, int):
                out.append(literals[position : position + item])
                position += item
            elif item[0] == "b64":
                out.append(mime_base64(content(item[1])))
            else:
                out.append(content(item[1]))
        return b"".join(out)

    return expand(skeleton)
