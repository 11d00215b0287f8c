"""No UBL leaves unchecked: verdicts of the UBL checks, stored ahead of sending and looked up when sending.

Checking an e-invoice (UBL 2.1 XSD, EN 16931 schematron in a child process) costs a second
to start and milliseconds per document, far too slow for the send path. So the verdict is
reached when the document is fixed — a background loop (`validate_pending_documents`)
checks, in batches, the UBL of every invoice that may be sent next (validated invoices,
deliveries queued, deferred or awaiting approval) — and stored under a digest of the data
the UBL is rendered from (`ubl_digest`). The worker computes that digest for the document
it is about to render (cheap) and looks it up: a passed verdict lets it go, a failed one
holds the delivery (`failed`, "held: the e-invoice breaks rule …", with an alert), and no
verdict at all (the document changed since, or the loop has not come by yet) means it is
checked inline first (`UblGate`, the slow path, counted). The verdict reached inline is
stored like the loop's, by the worker's writer in the round that records the delivery's
outcome (`Outcome.ubl_verdict`): a retry of the same document looks it up instead of
checking it again, and no extra transaction is added to the send path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.db.models import Attachments, Delivery, DocumentValidation, Invoice, InvoiceStatus
from services.documents.cache import document_digest
from services.documents.model import InvoiceDocument, in_language, read_invoice_documents
from services.documents.ubl import render_invoice_ubl
from services.documents.validation import UblVerdict, check_ubl_documents
from services.errors import DomainError
from services.sending.transitions import WAITING
from services.tracking.precedence import HELD_PREFIX

WITH_UBL = (Attachments.UBL.value, Attachments.PDF_UBL.value)
# Deliveries whose UBL may still be rendered and sent: the ones waiting to be sent.
_PENDING = sorted(status.value for status in WAITING)


def ubl_digest(document: InvoiceDocument) -> str:
    """The key of a verdict: what the UBL of `document` (in its language) is rendered from."""
    return document_digest("ubl", document)


def hold_reason(failures: Sequence[str]) -> str:
    """The delivery's last error and the alert's text: the broken rules, in words."""
    first = failures[0] if failures else "the e-invoice did not pass its checks"
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    if first.startswith("UBL 2.1 schema:"):
        return f"{HELD_PREFIX}the e-invoice breaks the {first}{more}"
    return f"{HELD_PREFIX}the e-invoice breaks rule {first}{more}"


def read_verdicts(session: Session, digests: Sequence[str]) -> dict[str, UblVerdict]:
    """The stored verdicts among `digests` (sync: the worker reads them inside its claim)."""
    if not digests:
        return {}
    rows = session.execute(
        select(DocumentValidation.digest, DocumentValidation.ok, DocumentValidation.failures).where(
            DocumentValidation.digest.in_(sorted(set(digests)))
        )
    )
    return {row.digest: UblVerdict(ok=row.ok, failures=tuple(row.failures or ())) for row in rows}


def store_verdicts(connection: Connection, *, verdicts: dict[str, UblVerdict], now: datetime) -> None:
    """Insert verdicts; one already stored for a digest (another process got there first) is kept."""
    if not verdicts:
        return
    rows = [
        {"digest": digest, "ok": verdict.ok, "failures": list(verdict.failures), "validated_at": now}
        for digest, verdict in verdicts.items()
    ]
    table = DocumentValidation.__table__
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    elif connection.dialect.name == "sqlite":
        connection.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    else:
        known = set(read_verdicts(Session(bind=connection), list(verdicts)))
        fresh = [row for row in rows if row["digest"] not in known]
        if fresh:
            connection.execute(insert(table), fresh)


def check_documents(documents: Sequence[InvoiceDocument]) -> list[UblVerdict]:
    """Render and check many documents in one schematron run (blocking: call it in a thread).

    A document that cannot even be rendered (a value XML cannot hold) fails with that reason.
    """
    rendered: list[bytes | None] = []
    refused: dict[int, str] = {}
    for n, document in enumerate(documents):
        try:
            rendered.append(render_invoice_ubl(document))
        except DomainError as exc:
            rendered.append(None)
            refused[n] = str(exc)
    checked = iter(check_ubl_documents([xml for xml in rendered if xml is not None]))
    return [
        UblVerdict(ok=False, failures=(refused[n],)) if xml is None else next(checked) for n, xml in enumerate(rendered)
    ]


async def verdict_on(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], document: InvoiceDocument, *, now: datetime
) -> UblVerdict:
    """The verdict on `document`'s UBL: the stored one, else reached now by `check_documents` and stored.

    For the customer's UBL download on the link page: it serves only a document that passes
    the same checks as the send path. A verdict that cannot be stored now (database locked)
    is still the verdict; the next download checks again.
    """
    digest = ubl_digest(document)
    async with sessions() as session:
        known = await session.run_sync(read_verdicts, [digest])
    if digest in known:
        return known[digest]
    [verdict] = await asyncio.to_thread(check_documents, [document])
    with contextlib.suppress(SQLAlchemyError):
        async with sessions() as session:
            await session.run_sync(lambda s: store_verdicts(s.connection(), verdicts={digest: verdict}, now=now))
            await session.commit()
    return verdict


@dataclass
class UblGate:
    """The worker's slow path: a document with no verdict yet is checked inline before it goes.

    `inline_checks` and `inline_seconds` count it (metrics, the benchmark, tests): in steady
    state the loop has always come by first and both stay at zero.
    """

    inline_checks: int = 0
    inline_seconds: float = 0.0

    async def check_inline(self, document: InvoiceDocument) -> UblVerdict:
        started = time.perf_counter()
        try:
            [verdict] = await asyncio.to_thread(check_documents, [document])
        finally:
            self.inline_checks += 1
            self.inline_seconds += time.perf_counter() - started
        return verdict


@dataclass(frozen=True)
class ValidationPass:
    """What one pass of the loop did: documents checked, how many failed, seconds spent checking."""

    checked: int
    failed: int
    seconds: float
    next_delivery_id: int = 0  # where the next pass reads pending deliveries from (0: the start)


async def validate_pending_documents(
    sessions: async_sessionmaker[AsyncSession],
    *,
    public_url: str,
    limit: int,
    now: datetime,
    after_delivery_id: int = 0,
) -> ValidationPass:
    """Check up to `limit` UBL documents that may be sent and have no verdict yet; store the verdicts.

    The documents are those of deliveries queued, deferred or awaiting approval (in the
    delivery's language) and of the most recently changed validated invoices (in the
    customer's). Deliveries are read a page at a time after `after_delivery_id`; the pass
    says where the next one starts (`next_delivery_id`, 0 after the last page), so a long
    queue is walked through round by round and none is left out. The check runs in a
    thread (its schematron in one child process per pass).
    """
    async with sessions() as session:
        wanted, next_id = await session.run_sync(
            _documents_without_verdict, public_url=public_url, limit=limit, after_delivery_id=after_delivery_id
        )
    if not wanted:
        return ValidationPass(0, 0, 0.0, next_id)
    started = time.perf_counter()
    verdicts = await asyncio.to_thread(check_documents, list(wanted.values()))
    seconds = time.perf_counter() - started
    by_digest = dict(zip(wanted, verdicts, strict=True))
    async with sessions() as session:
        await session.run_sync(lambda s: store_verdicts(s.connection(), verdicts=by_digest, now=now))
        await session.commit()
    return ValidationPass(len(by_digest), sum(not v.ok for v in verdicts), seconds, next_id)


def _documents_without_verdict(
    session: Session, *, public_url: str, limit: int, after_delivery_id: int
) -> tuple[dict[str, InvoiceDocument], int]:
    """digest → document for the documents the loop should check now (at most `limit`), and the next page's start."""
    page = limit * 4
    deliveries = session.execute(
        select(Delivery.id, Delivery.organisation_id, Delivery.invoice_id, Delivery.language)
        .where(Delivery.status.in_(_PENDING), Delivery.attachments.in_(WITH_UBL), Delivery.id > after_delivery_id)
        .order_by(Delivery.id)
        .limit(page)
    ).all()
    next_id = deliveries[-1].id if len(deliveries) == page else 0
    invoices = session.execute(
        select(Invoice.organisation_id, Invoice.id)
        .where(Invoice.status == InvoiceStatus.VALIDATED.value)
        .order_by(Invoice.updated_at.desc(), Invoice.id.desc())
        .limit(limit)
    ).all()
    wanted: list[tuple[int, int, str | None]] = [(d.organisation_id, d.invoice_id, d.language) for d in deliveries]
    wanted += [(i.organisation_id, i.id, None) for i in invoices]
    by_org: dict[int, set[int]] = {}
    for organisation_id, invoice_id, _language in wanted:
        by_org.setdefault(organisation_id, set()).add(invoice_id)
    loaded: dict[tuple[int, int], InvoiceDocument] = {}
    for organisation_id, invoice_ids in by_org.items():
        documents = read_invoice_documents(
            session, organisation_id=organisation_id, invoice_ids=sorted(invoice_ids), public_url=public_url
        )
        for invoice_id, document in documents.items():
            if not isinstance(document, DomainError):  # the worker refuses it with its own reason
                loaded[(organisation_id, invoice_id)] = document
    candidates: dict[str, InvoiceDocument] = {}
    for organisation_id, invoice_id, language in wanted:
        document = loaded.get((organisation_id, invoice_id))
        if document is not None:
            document = in_language(document, language)
            candidates.setdefault(ubl_digest(document), document)
    known = read_verdicts(session, list(candidates))
    unknown = [(digest, doc) for digest, doc in candidates.items() if digest not in known]
    if len(unknown) > limit:  # this page is not done: the next pass reads it again
        next_id = after_delivery_id
    return dict(unknown[:limit]), next_id
