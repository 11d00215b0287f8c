"""One delivery from claimed row to recorded outcome: load → render (process pool) → send.

Rendering the PDF/UBL and composing the MIME message is CPU-bound, so it runs in a process
pool (`render_message` is a top-level function of picklable inputs); the SMTP conversation
is I/O and stays on the event loop. Nothing here decides retries: `outcomes.record_outcomes`
(through the worker's group-commit writer) does, from the `Outcome` derived here.

Every delivery ends in an outcome, even when something unforeseen breaks: an unexpected
error in its data, its render or its SMTP conversation before the message data went out
fails that delivery alone with the reason (`permanent`, so a person is alerted); one after
the data was handed over makes it `ambiguous` (shown `unknown`, never resent by itself); a
render pool that could not render it (a process killed, not started) or a data-start mark
the database refused makes it `transient` (nothing went out: it is retried with backoff up
to the attempt limit).

A reminder's delivery (kind REMINDER) is prepared by services.sending.reminder_job: the
invoices still owed as of now, its own words and HTML, their PDFs; none left ends it
`cancelled`. Its data-start mark re-checks those invoices with their rows locked
(`GroupWriter.mark_reminder_data_started`), so a payment committed first stops its DATA.
The render job and the prepared send are services.sending.jobs' (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.db.models import Delivery, DeliveryKind, Organisation
from services.db.rounds import transient_database_error
from services.documents.formats import payment_details
from services.documents.model import InvoiceDocument, as_delivered, load_invoice_document, read_invoice_documents
from services.documents.validation import UblVerdict
from services.email.message import Attachment, verp_address
from services.email.stored_form import RenderedMessage
from services.email.templates import EmailContext, InvoiceEmailFacts, invoice_email_context
from services.email.transport import (
    AmbiguousSendError,
    Envelope,
    PermanentSendError,
    TransientSendError,
    Transport,
)
from services.errors import DomainError, error_summary
from services.sending.extra_store import read_extra_attachments
from services.sending.identity import SenderIdentities as SenderIdentities
from services.sending.identity import SenderIdentity as SenderIdentity
from services.sending.jobs import PreparedSend as PreparedSend
from services.sending.jobs import Renderer as Renderer
from services.sending.jobs import RenderJob as RenderJob
from services.sending.jobs import organisation_shown
from services.sending.jobs import render_and_pack as render_and_pack
from services.sending.jobs import render_message as render_message
from services.sending.outcomes import Outcome
from services.sending.reminder_job import ReminderOvertaken, reminder_jobs
from services.sending.render_pool import RenderPool, RenderPoolError
from services.sending.ubl_checks import WITH_UBL, UblGate, hold_reason, read_verdicts, ubl_digest
from services.sending.writer import GroupWriter
from services.tracking.page_views import open_pixel_url


async def build_render_job(session: AsyncSession, *, delivery: Delivery, identity: SenderIdentity) -> RenderJob:
    """The render job of one delivery (raises DomainError when its invoice cannot be rendered)."""
    document = await load_invoice_document(
        session,
        organisation_id=delivery.organisation_id,
        invoice_id=delivery.invoice_id,
        public_url=identity.public_url,
    )
    organisation = await session.get(Organisation, delivery.organisation_id)
    extras = await session.run_sync(lambda sync: read_extra_attachments(sync, [delivery.id]))
    return render_job(delivery, document, organisation.name if organisation else None, identity, extras)


def render_job(
    delivery: Delivery,
    document: InvoiceDocument,
    organisation_name: str | None,
    identity: SenderIdentity,
    extras: Mapping[int, tuple[Attachment, ...]] | None = None,
) -> RenderJob:
    """The delivery's language (chosen in the review modal) drives the email, the PDF and the UBL alike."""
    document = as_delivered(document, language=delivery.language, show_notes=delivery.show_notes)
    context = invoice_email_context(
        InvoiceEmailFacts(
            locale=document.locale,
            language=document.language,
            organisation_name=organisation_shown(organisation_name, document),
            customer_name=document.buyer.name,
            invoice_number=document.number,
            total=document.total,
            currency=document.currency,
            issue_date=document.issue_date,
            due_date=document.due_date,
            invoice_url=document.invoice_url or identity.public_url,
            sender_name=identity.from_name,
            payment=None if document.is_credit_note else payment_details(document.payment),
            credit_note_for=document.corrects.number if document.corrects is not None else "",
        )
    )
    return envelope_job(delivery, document, identity, context, extras)


def envelope_job(
    delivery: Delivery,
    document: InvoiceDocument,
    identity: SenderIdentity,
    context: EmailContext | None = None,
    extras: Mapping[int, tuple[Attachment, ...]] | None = None,
) -> RenderJob:
    """A delivery's job without the invoice email's words: sender, recipients, subject, Message-ID,
    DKIM, for `document` already as delivered (`as_delivered`). A reminder's job starts here
    (services.sending.reminder_job) and brings its own words: building the invoice email's
    context it never shows cost the claim's transaction a fraction of a millisecond per reminder."""
    subject = delivery.subject
    if delivery.kind == DeliveryKind.PREVIEW:
        subject = f"[Preview] {subject}"
    return RenderJob(
        document=document,
        attachments=delivery.attachments,
        from_email=identity.from_email,
        from_name=identity.from_name,
        reply_to=identity.reply_to,
        to=tuple(delivery.to),
        cc=tuple(delivery.cc),
        subject=subject,
        text=delivery.body_text,
        message_id=delivery.message_id,
        correlation_id=delivery.verp_token,
        context=context,
        pixel_url=(
            open_pixel_url(public_url=identity.public_url, verp_token=delivery.verp_token)
            if identity.open_pixel and delivery.kind in (DeliveryKind.INVOICE, DeliveryKind.REMINDER)
            else None
        ),
        dkim=identity.dkim,
        extras=(extras or {}).get(delivery.id, ()),
    )


def prepare_sends(
    session: Session, *, delivery_ids: Sequence[int], identity: SenderIdentity | SenderIdentities
) -> list[PreparedSend]:
    """Load a whole claimed batch in a few queries (deliveries, organisation, invoices + lines);
    each organisation's deliveries are sent as that organisation (`SenderIdentities`).

    Sync: the worker runs it inside the claim's own transaction (`GroupWriter.claim(then=…)`).
    """
    identities = identity if isinstance(identity, SenderIdentities) else SenderIdentities(identity)
    deliveries = list(
        session.execute(select(Delivery).where(Delivery.id.in_(delivery_ids)).order_by(Delivery.id)).scalars()
    )
    by_org: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_org.setdefault(delivery.organisation_id, []).append(delivery)
    prepared: list[PreparedSend] = []
    for organisation_id, group in by_org.items():
        identity = identities.of(organisation_id)
        # a reminder's invoices are read by reminder_jobs (its own list, as of now), not here
        invoice_ids = [d.invoice_id for d in group if d.kind != DeliveryKind.REMINDER]
        documents = (
            read_invoice_documents(
                session, organisation_id=organisation_id, invoice_ids=invoice_ids, public_url=identity.public_url
            )
            if invoice_ids
            else {}
        )
        organisation = session.get(Organisation, organisation_id)
        name = organisation.name if organisation else None
        extras = read_extra_attachments(session, [d.id for d in group])
        reminders = reminder_jobs(
            session,
            [d for d in group if d.kind == DeliveryKind.REMINDER],
            organisation_id=organisation_id,
            identity=identity,
            organisation_name=name,
            base_job=partial(envelope_job, identity=identity),
        )
        for delivery in group:
            envelope = Envelope(
                mail_from=verp_address(delivery.verp_token, identity.bounce_domain),
                recipients=[*delivery.to, *delivery.cc, *delivery.bcc],
                envid=delivery.verp_token,
            )
            made = reminders.get(delivery.id)  # a reminder: its words and invoices as of now (reminder_job)
            if isinstance(made, Outcome):
                prepared.append(PreparedSend(delivery.id, envelope, None, made))
                continue
            if made is not None:
                prepared.append(PreparedSend(delivery.id, envelope, made[0], reminder=made[1]))
                continue
            document = documents[delivery.invoice_id]
            if isinstance(document, DomainError):
                stop = Outcome("permanent", f"could not prepare the email: {document}")
                prepared.append(PreparedSend(delivery.id, envelope, None, stop))
                continue
            try:
                job = render_job(delivery, document, organisation.name if organisation else None, identity, extras)
            except DomainError as exc:
                stop = Outcome("permanent", f"could not prepare the email: {exc}")
                prepared.append(PreparedSend(delivery.id, envelope, None, stop))
                continue
            except Exception as exc:  # this delivery's data broke a rule nobody wrote: it fails alone
                stop = Outcome("permanent", f"could not prepare the email: {_unexpected(exc)}")
                prepared.append(PreparedSend(delivery.id, envelope, None, stop))
                continue
            prepared.append(PreparedSend(delivery.id, envelope, job))
    return _gate_ubl(session, prepared)


def _gate_ubl(session: Session, prepared: list[PreparedSend]) -> list[PreparedSend]:
    """Hold each send whose UBL failed its stored verdict; mark the ones without one (see ubl_checks)."""
    digests = {p.delivery_id: ubl_digest(p.job.document) for p in prepared if p.job and p.job.attachments in WITH_UBL}
    verdicts = read_verdicts(session, list(digests.values()))
    gated: list[PreparedSend] = []
    for send in prepared:
        verdict = verdicts.get(digests.get(send.delivery_id, ""))
        if send.delivery_id not in digests or (verdict is not None and verdict.ok):
            gated.append(send)
        elif verdict is None:
            gated.append(replace(send, ubl_unchecked=True))
        else:
            gated.append(replace(send, job=None, outcome=Outcome("permanent", hold_reason(verdict.failures))))
    return gated


async def _render_and_converse(
    prepared: PreparedSend,
    job: RenderJob,
    render: Renderer,
    transport: Transport,
    writer: GroupWriter,
) -> tuple[Outcome, bool]:
    """Render the message, then talk SMTP; a render failure is this delivery's outcome, never a raise.
    Returns the outcome and whether DATA was started (an unknown outcome after it is never resent)."""
    try:
        rendered = await render(job)
    except DomainError as exc:  # e.g. attachments over the size limit
        return Outcome("permanent", str(exc)), False
    except RenderPoolError as exc:  # a process killed, out of memory, not started: not this delivery's fault
        return Outcome("transient", f"could not render the email: {exc}"), False
    except Exception as exc:
        return Outcome("permanent", f"could not render the email: {_unexpected(exc)}"), False
    message, packed = (rendered.data, rendered.packed) if isinstance(rendered, RenderedMessage) else (rendered, None)
    outcome, data_started = await _converse(transport, prepared, message, writer)
    if packed is not None and data_started and outcome.kind in ("accepted", "ambiguous"):
        outcome = replace(outcome, sent=packed)  # handed to the server: kept as sent, with its outcome
    return outcome, data_started


async def send_prepared(
    prepared: PreparedSend,
    *,
    transport: Transport,
    render: Renderer,
    writer: GroupWriter,
    on_sent: Callable[[], None] | None = None,
    ubl_gate: UblGate | None = None,
) -> str | None:
    """Render, send and record one claimed delivery. Never raises for a send failure.

    `on_sent` is called once the render process and the SMTP connection are done with this
    delivery, before its outcome is committed: the worker then starts the next one.
    Returns the delivery's new status (None if stale recovery took it over meanwhile).
    """
    outcome = prepared.outcome
    data_started = False
    reached: tuple[str, UblVerdict] | None = None  # a verdict the inline check reached, stored with the outcome
    if prepared.job is not None and prepared.ubl_unchecked:
        outcome, reached = await _check_inline(ubl_gate or UblGate(), prepared.job)
    if prepared.job is not None and outcome is None:
        outcome, data_started = await _render_and_converse(prepared, prepared.job, render, transport, writer)
    assert outcome is not None
    if reached is not None:
        outcome = replace(outcome, ubl_verdict=reached)
    if on_sent is not None:
        on_sent()
    try:
        return await writer.record(prepared.delivery_id, outcome)
    except Exception as exc:
        if transient_database_error(exc):
            raise  # the database is still down: the row stays `sending` for stale recovery
        # This outcome cannot be stored (an error in its own data): store a plain one instead.
        kind = "ambiguous" if data_started else "permanent"
        fallback = Outcome(kind, f"{outcome.kind}: {outcome.detail[:500]} (could not be recorded: {_unexpected(exc)})")
        return await writer.record(prepared.delivery_id, fallback)


async def _converse(
    transport: Transport, prepared: PreparedSend, message: bytes, writer: GroupWriter
) -> tuple[Outcome, bool]:
    """The SMTP conversation's outcome, and whether the message data was handed over."""
    stage = {"data": False, "mark_failed": False}

    async def before_data() -> None:
        try:
            if prepared.reminder is None:
                await writer.mark_data_started(prepared.delivery_id)
            elif overtaken := await writer.mark_reminder_data_started(prepared.delivery_id, prepared.reminder):
                raise ReminderOvertaken(overtaken)  # a payment committed first: no DATA
        except Exception:
            stage["mark_failed"] = True
            raise
        stage["data"] = True

    try:
        result = await transport.send(prepared.envelope, message, before_data=before_data)
    except TransientSendError as exc:
        return Outcome("transient", str(exc)), stage["data"]
    except PermanentSendError as exc:
        return Outcome("permanent", str(exc), refused=dict(getattr(exc, "refused", {}) or {})), stage["data"]
    except AmbiguousSendError as exc:
        return Outcome("ambiguous", str(exc)), stage["data"]
    except Exception as exc:
        return _unforeseen(exc, data=stage["data"], mark_failed=stage["mark_failed"])
    accepted = Outcome(
        "accepted",
        result.data_reply,
        accepted=tuple(result.accepted),
        refused=dict(result.refused),
        deferred=dict(getattr(result, "deferred", {}) or {}),
    )
    return accepted, True


def _unforeseen(exc: Exception, *, data: bool, mark_failed: bool) -> tuple[Outcome, bool]:
    """The outcome of an error the transport does not classify, by how far the conversation got."""
    if data:
        detail = f"an unexpected error after the email was handed to the server: {_unexpected(exc)}"
        return Outcome("ambiguous", detail), True
    if isinstance(exc, ReminderOvertaken):
        return Outcome("transient", f"not sent: {exc} It is prepared again without it."), False
    if mark_failed:
        detail = f"could not record that sending began, so nothing was sent: {error_summary(exc)}"
        return Outcome("transient", detail), False
    return Outcome("permanent", f"an unexpected error before the email was sent: {_unexpected(exc)}"), False


async def _check_inline(gate: UblGate, job: RenderJob) -> tuple[Outcome | None, tuple[str, UblVerdict] | None]:
    """The slow path: no outcome when the UBL passes, else the one that holds it (or defers it, if
    unchecked); and the (digest, verdict) reached, for the writer to store with the outcome."""
    try:
        verdict = await gate.check_inline(job.document)
    except Exception as exc:  # saxonche missing, its child crashed or timed out: nothing goes out unchecked
        return Outcome("transient", f"could not check the e-invoice before sending: {_unexpected(exc)}"), None
    reached = (ubl_digest(job.document), verdict)
    return (None if verdict.ok else Outcome("permanent", hold_reason(verdict.failures))), reached


def _unexpected(exc: BaseException) -> str:
    """An error nobody foresaw, for the delivery's last error and the alert: its kind and first line."""
    return f"{type(exc).__name__}: {error_summary(exc)}"


def pool_renderer(pool: RenderPool | None) -> Renderer:
    """Render (and pack) in `pool`'s child processes (production), or inline on the event loop when None."""

    async def render(job: RenderJob) -> bytes | RenderedMessage:
        if pool is None:
            return render_and_pack(job)
        return await pool.run(render_and_pack, job)

    return render
