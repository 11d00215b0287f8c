"""Rendered documents (PDF, UBL) kept in memory, keyed by a digest of the data they are made from.

Content addressing makes the cache always right: a change to the invoice, its customer,
the organisation's bank details or the link changes the `InvoiceDocument`, so it changes
the key; nothing ever has to be invalidated. The same digest is the HTTP `ETag`, so a
browser that already holds the file is answered 304 without rendering or reading it.

Rendering is CPU work (reportlab): it runs in a worker thread, at most `render_slots` at a
time, so the event loop keeps answering other requests (health checks, Slack) while it
runs; and concurrent requests for one document wait for the one rendering in progress
instead of starting their own (single flight). The cache is bounded by bytes and drops
the least recently used entries first; `max_bytes=0` keeps nothing (still single flight).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable

from services.documents.model import InvoiceDocument

# Part of every key: bump it when a renderer's output changes for the same data.
RENDERING_VERSION = "2"  # 2: the payment block with the account holder and the EPC QR code


def document_digest(kind: str, document: InvoiceDocument) -> str:
    """SHA-256 (hex) of what a document of `kind` ("pdf", "ubl") is rendered from.

    `InvoiceDocument` is a frozen dataclass of plain values (str, date, Decimal, tuples),
    so its `repr` is a complete and stable description of its data.
    """
    material = f"{kind}\n{RENDERING_VERSION}\n{document!r}".encode()
    return hashlib.sha256(material).hexdigest()


class DocumentCache:
    def __init__(self, *, max_bytes: int, render_slots: int = 2) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._in_flight: dict[str, asyncio.Future[bytes]] = {}
        self._slots = asyncio.Semaphore(render_slots)
        self.renders = 0  # how many times a document was actually rendered (tests, metrics)

    def cached(self, key: str) -> bytes | None:
        content = self._entries.get(key)
        if content is not None:
            self._entries.move_to_end(key)
        return content

    async def get(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The document for `key`: from memory, from the rendering in progress, or rendered now.

        An error of `render` reaches every caller waiting for it and is not cached.
        """
        content = self.cached(key)
        if content is not None:
            return content
        waiting = self._in_flight.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            async with self._slots:
                self.renders += 1
                content = await asyncio.to_thread(render)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so a future nobody else awaited logs nothing
            raise
        else:
            future.set_result(content)
            self._keep(key, content)
            return content
        finally:
            del self._in_flight[key]

    def _keep(self, key: str, content: bytes) -> None:
        if len(content) > self.max_bytes:
            return
        self._entries[key] = content
        self._size += len(content)
        while self._size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)
