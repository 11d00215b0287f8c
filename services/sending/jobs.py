"""What the send worker hands its render processes, and what a claimed delivery is before it goes.

`RenderJob` is everything a render process needs to build one email's bytes (picklable);
`render_message` builds them. An invoice's email is rebuilt from its text in the invoice
email's HTML layout and carries that invoice's PDF/UBL; a reminder's (kind REMINDER,
services.sending.reminder_job) brings its own HTML — a list of several invoices with their
balances — and the PDF of each invoice it still lists (`documents`). Split out of
services.sending.pipeline, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from services.db.models import Attachments
from services.documents.model import InvoiceDocument
from services.documents.pdf import invoice_pdf_attachment
from services.documents.ubl import render_invoice_ubl
from services.email.dkim import DkimKey, sign_message
from services.email.message import Attachment, OutgoingEmail, compose_message_bytes
from services.email.stored_form import RenderedMessage, pack_message
from services.email.templates import EmailContext, render_html_body
from services.email.transport import Envelope
from services.reminders.content import ReminderFacts, reminder_attachments, render_reminder_email
from services.sending.outcomes import Outcome


@dataclass(frozen=True)
class RenderJob:
    """Everything the child process needs to build the message bytes. Picklable.

    `html` set: the email's own HTML, used as it is (a reminder's); else it is rebuilt from
    `text` in the invoice email's layout. `documents` set: their PDFs are the attachments
    (a reminder's invoices), instead of `document`'s PDF/UBL by `attachments`. `reminder` set:
    its subject, text and HTML are rendered from these facts here, in the render process (out
    of the claim's transaction), replacing `subject`, `text` and `html`."""

    document: InvoiceDocument
    attachments: str
    from_email: str
    from_name: str | None
    reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    message_id: str
    correlation_id: str
    context: EmailContext | None  # None for a reminder: its HTML is its own (`reminder`)
    pixel_url: str | None = None
    dkim: DkimKey | None = None
    extras: tuple[Attachment, ...] = ()  # the files added in the review modal, after the PDF/UBL
    html: str | None = None
    documents: tuple[InvoiceDocument, ...] = ()
    reminder: ReminderFacts | None = None


def organisation_shown(organisation_name: str | None, document: InvoiceDocument) -> str:
    """The organisation an email speaks for: its name in the bot, else the seller on the invoice
    (an invoice email's context and a reminder's facts alike)."""
    return organisation_name or document.seller.name


Renderer = Callable[[RenderJob], Awaitable["bytes | RenderedMessage"]]
"""Renders a job: its bytes, or those and their stored form (kept as sent; `pool_renderer` packs)."""


def _files(job: RenderJob) -> list[Attachment]:
    if job.documents:
        return [*reminder_attachments(job.documents), *job.extras]
    files: list[Attachment] = []
    number = job.document.number
    if job.attachments in (Attachments.PDF, Attachments.PDF_UBL):
        files.append(invoice_pdf_attachment(job.document))
    if job.attachments in (Attachments.UBL, Attachments.PDF_UBL):
        files.append(Attachment(f"{number}.xml", render_invoice_ubl(job.document), "application/xml"))
    files.extend(job.extras)
    return files


def render_message(job: RenderJob) -> bytes:
    """Render attachments, compose the MIME message and sign it when a DKIM key is set (runs in a
    render process: the signature is the last change to the bytes before SMTP)."""
    subject, text, html = job.subject, job.text, job.html
    if job.reminder is not None:  # a reminder's words, written here rather than in the claim's transaction
        words = render_reminder_email(job.reminder)
        subject, text, html = words.subject, words.text, words.html
    if html is None:
        if job.context is None:
            raise ValueError("an email without its own HTML is an invoice email: it needs its context")
        html = render_html_body(language=job.context.language, context=job.context, text=text, pixel_url=job.pixel_url)
    message = compose_message_bytes(
        OutgoingEmail(
            from_addr=job.from_email,
            from_name=job.from_name,
            reply_to=job.reply_to,
            to=list(job.to),
            cc=list(job.cc),
            bcc=[],
            subject=subject,
            text=text,
            html=html,
            attachments=_files(job),
            message_id=job.message_id,
            correlation_id=job.correlation_id,
        )
    )
    return sign_message(message, job.dkim) if job.dkim is not None else message


def render_and_pack(job: RenderJob) -> RenderedMessage:
    """`render_message`, and the stored form of its bytes packed in the same render process."""
    data = render_message(job)
    return RenderedMessage(data, pack_message(data))


@dataclass(frozen=True)
class ReminderCheck:
    """What a reminder's send re-checks just before DATA (services.sending.reminder_job): the
    invoices it lists, still owed on the organisation's `today`."""

    organisation_id: int
    invoice_ids: tuple[int, ...]
    today: date


@dataclass(frozen=True)
class PreparedSend:
    """A claimed delivery ready to go: its render job, or the outcome that stops it early."""

    delivery_id: int
    envelope: Envelope
    job: RenderJob | None
    outcome: Outcome | None = None
    ubl_unchecked: bool = False  # its UBL has no stored verdict: check it inline before rendering
    reminder: ReminderCheck | None = None  # a reminder: re-checked in the data-start mark's transaction
