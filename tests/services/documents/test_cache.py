"""The document cache (services/documents/cache.py): keyed by content, bounded, one rendering at a time per key."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.documents.cache import DocumentCache, document_digest
from services.documents.pdf import render_invoice_pdf
from tests.harness.documents import document, line


def test_the_digest_follows_the_data_and_the_kind() -> None:
    one, same = document(), document()
    changed = document(lines=(line("Consulting, October", "2", "100.00", "20"),))
    relinked = document(invoice_url="http://localhost:3000/i/another-token")

    assert document_digest("pdf", one) == document_digest("pdf", same)
    assert document_digest("pdf", one) != document_digest("ubl", one)
    assert len({document_digest("pdf", d) for d in (one, changed, relinked)}) == 3


async def test_concurrent_requests_for_one_document_share_one_rendering() -> None:
    cache = DocumentCache(max_bytes=10_000_000)
    sample = document()
    threads: set[int] = set()

    def render() -> bytes:
        threads.add(threading.get_ident())
        return render_invoice_pdf(sample)

    key = document_digest("pdf", sample)
    results = await asyncio.gather(*(cache.get(key, render) for _ in range(20)))

    assert cache.renders == 1 and len(set(results)) == 1 and results[0].startswith(b"%PDF-")
    assert threading.get_ident() not in threads  # rendered off the event loop's thread
    assert await cache.get(key, render) == results[0] and cache.renders == 1


async def test_the_least_recently_used_entries_go_when_the_cache_is_full() -> None:
    cache = DocumentCache(max_bytes=250)
    await cache.get("a", lambda: b"a" * 100)
    await cache.get("b", lambda: b"b" * 100)
    assert cache.cached("a") is not None  # "a" is now the most recently used
    await cache.get("c", lambda: b"c" * 100)
    await cache.get("huge", lambda: b"h" * 1000)  # larger than the cache: served, never kept

    assert cache.cached("b") is None
    assert cache.cached("a") == b"a" * 100 and cache.cached("c") == b"c" * 100
    assert cache.cached("huge") is None


async def test_a_failed_rendering_reaches_every_waiter_and_is_not_kept() -> None:
    cache = DocumentCache(max_bytes=1000)
    gate = threading.Event()

    def broken() -> bytes:
        gate.wait(5)
        raise ValueError("the totals disagree")

    waiters = [asyncio.create_task(cache.get("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)

    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    assert cache.renders == 1
    with pytest.raises(ValueError, match="totals"):
        await cache.get("k", broken)
    assert cache.renders == 2
