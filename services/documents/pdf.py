"""The invoice PDF, drawn with reportlab's platypus from an `InvoiceDocument` alone.

Text is set in DejaVu Sans, shipped in `fonts/` and embedded in every PDF, so names in
Greek, Cyrillic or with accents print as written and no reader substitutes a font. The
canvas starts in DejaVu too (`initialFontName`), otherwise reportlab puts an unembedded
Helvetica reference into every file. Long invoices flow over pages with the line table's
header repeated, and every page carries "Page X of Y".

`render_invoice_pdf` only takes the picklable document and returns bytes, so it can run
in a process pool.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, KeepTogether, PageTemplate, Paragraph, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from services.documents.formats import DocumentFormats, payment_request
from services.documents.labels import label
from services.documents.model import EXEMPT, InvoiceDocument, PartyData
from services.documents.page_numbers import NumberedCanvas
from services.documents.payment_qr import QrSymbol, epc_qr
from services.email.message import Attachment
from services.field_rules import iban_shown

FONT_DIR = Path(__file__).with_name("fonts")
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
BOTTOM_MARGIN = 22 * mm
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
SHADE = colors.HexColor("#f0f4f8")
QR_SIZE = 32 * mm  # with its quiet zone; EPC069-12 asks for at least 2 cm of code


@cache
def register_fonts() -> None:
    """Register DejaVu Sans once per process (reportlab keeps fonts in a global registry)."""
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)


def _style(name: str, *, size: float = 9, font: str = REGULAR, color: Any = INK, **extra: Any) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.3, textColor=color, **extra)


STYLES = {
    "body": _style("body"),
    "small": _style("small", size=8, color=MUTED),
    "seller": _style("seller", size=15, font=BOLD, spaceAfter=2),
    "title": _style("title", size=22, font=BOLD, alignment=TA_RIGHT),
    "heading": _style("heading", size=8, font=BOLD, color=MUTED, spaceAfter=2),
    "party": _style("party", size=10.5, font=BOLD),
    "cell": _style("cell", size=8.5),
}

BASE_TABLE_STYLE = [
    ("FONTNAME", (0, 0), (-1, -1), REGULAR),
    ("FONTSIZE", (0, 0), (-1, -1), 8.5),
    ("TEXTCOLOR", (0, 0), (-1, -1), INK),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
]
# For the two-column layout tables: their outer edges sit on the page margins.
FLUSH_OUTER_EDGES = [("LEFTPADDING", (0, 0), (0, -1), 0), ("RIGHTPADDING", (-1, 0), (-1, -1), 0)]


def _cell(value: str, width: float) -> str | Paragraph:
    """A plain table string when it fits on one line (fast), else a wrapping paragraph."""
    style = STYLES["cell"]
    if "\n" not in value and pdfmetrics.stringWidth(value, style.fontName, style.fontSize) <= width - 6:
        return value
    return _text(value, "cell")


def _description(description: str, note: str | None, width: float) -> str | Paragraph | list[Paragraph]:
    """A line's description, with its customer-visible note in small type beneath it."""
    if not note:
        return _cell(description, width)
    return [_text(description, "cell"), _text(note, "small")]


def _text(value: str, style: str = "body") -> Paragraph:
    return Paragraph(escape(value).replace("\n", "<br/>"), STYLES[style])


def _party_block(
    party: PartyData, formats: DocumentFormats, *, language: str, heading: str | None, name_style: str
) -> list[Flowable]:
    flowables: list[Flowable] = []
    if heading:
        flowables.append(_text(heading.upper(), "heading"))
    flowables.append(_text(party.name, name_style))
    details = list(formats.address(party.address))
    if party.tax_id:
        details.append(f"{label('tax_id', language)}: {party.tax_id}")
    if party.email:
        details.append(party.email)
    if details:
        flowables.append(_text("\n".join(details), "small"))
    return flowables


def _title_key(document: InvoiceDocument) -> str:
    """The label of the document's title: "invoice" or "credit_note"."""
    return "credit_note" if document.is_credit_note else "invoice"


def _header(document: InvoiceDocument, formats: DocumentFormats) -> Table:
    language = document.language
    if document.corrects is not None:  # a credit note falls due on no date
        facts = [
            (label("credit_note_number", language), document.number),
            (label("issue_date", language), formats.date(document.issue_date)),
        ]
    else:
        facts = [
            (label("number", language), document.number),
            (label("issue_date", language), formats.date(document.issue_date)),
            (label("due_date", language), formats.date(document.due_date)),
        ]
    if document.purchase_order:
        facts.append((label("purchase_order", language), document.purchase_order))
    facts_table = Table(
        [[_text(key, "small"), _text(value, "body")] for key, value in facts],
        colWidths=[34 * mm, 42 * mm],
        hAlign="RIGHT",
    )
    facts_table.setStyle(TableStyle([*BASE_TABLE_STYLE, ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    right = [_text(label(_title_key(document), language).upper(), "title"), Spacer(1, 4 * mm), facts_table]
    left = _party_block(document.seller, formats, language=language, heading=None, name_style="seller")
    header = Table([[left, right]], colWidths=[CONTENT_WIDTH - 80 * mm, 80 * mm])
    header.setStyle(TableStyle([*BASE_TABLE_STYLE, *FLUSH_OUTER_EDGES]))
    return header


def _lines_table(document: InvoiceDocument, formats: DocumentFormats) -> Table:
    language = document.language
    description_width = CONTENT_WIDTH - (8 + 18 + 28 + 16 + 30) * mm
    widths = [8 * mm, description_width, 18 * mm, 28 * mm, 16 * mm, 30 * mm]
    rows: list[list[Any]] = [
        [
            "#",
            label("description", language),
            label("quantity", language),
            label("unit_price", language),
            label("tax_rate", language),
            label("amount", language),
        ]
    ]
    for line in document.lines:
        rows.append(
            [
                str(line.position),
                _description(line.description, line.note, description_width),
                formats.quantity(line.quantity),
                formats.unit_price(line.unit_price),
                formats.rate(line.tax_rate),
                formats.money(line.net_amount),
            ]
        )
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                *BASE_TABLE_STYLE,
                ("FONTNAME", (0, 0), (-1, 0), BOLD),
                ("FONTSIZE", (0, 0), (-1, 0), 8),
                ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, RULE),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("TEXTCOLOR", (0, 1), (0, -1), MUTED),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _summary(document: InvoiceDocument, formats: DocumentFormats) -> Table:
    """The VAT breakdown (left) beside the totals (right), kept on one page."""
    language = document.language
    breakdown_rows: list[list[Any]] = [
        [label("tax_rate", language), label("taxable", language), label("tax", language)]
    ]
    for tax in document.taxes:
        rate = formats.rate(tax.rate)
        if tax.category == EXEMPT:
            rate = f"{rate} ({label('exempt', language)})"
        breakdown_rows.append([rate, formats.money(tax.taxable), formats.money(tax.tax)])
    breakdown = Table(breakdown_rows, colWidths=[24 * mm, 28 * mm, 26 * mm], hAlign="LEFT")
    breakdown.setStyle(
        TableStyle(
            [
                *BASE_TABLE_STYLE,
                ("FONTNAME", (0, 0), (-1, 0), BOLD),
                ("FONTSIZE", (0, 0), (-1, 0), 7.5),
                ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, RULE),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    balance = []  # after a payment or a credit note: what was paid or credited, and the balance due (bold, last)
    if document.paid or document.credited:
        balance = [
            *([[label("paid", language), formats.money(document.paid)]] if document.paid else []),
            *([[label("credited", language), formats.money(document.credited)]] if document.credited else []),
            [label("balance_due", language), formats.money(document.balance_due)],
        ]
    totals = Table(
        [
            [label("subtotal", language), formats.money(document.subtotal)],
            [label("tax_total", language), formats.money(document.tax_total)],
            [label("total_credited" if document.is_credit_note else "total", language), formats.money(document.total)],
            *balance,
        ],
        colWidths=[40 * mm, 34 * mm],
        hAlign="RIGHT",
    )
    totals.setStyle(
        TableStyle(
            [
                *BASE_TABLE_STYLE,
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("FONTNAME", (0, -1), (-1, -1), BOLD),
                ("FONTSIZE", (0, -1), (-1, -1), 10.5),
                ("LINEABOVE", (0, -1), (-1, -1), 1, INK),
                ("TOPPADDING", (0, -1), (-1, -1), 5),
            ]
        )
    )
    summary = Table(
        [[[_text(label("tax_breakdown", language), "heading"), breakdown], totals]],
        colWidths=[CONTENT_WIDTH - 76 * mm, 76 * mm],
    )
    summary.setStyle(TableStyle([*BASE_TABLE_STYLE, *FLUSH_OUTER_EDGES]))
    return summary


class QrFlowable(Flowable):
    """A QR code drawn as vector rectangles (sharp at any zoom and print size), `size` wide with its quiet zone.

    Each run of dark modules is one rectangle, and all of them one filled path: a fraction of
    the drawing operations of a square per module, which keeps bulk rendering fast.
    """

    def __init__(self, code: QrSymbol, size: float) -> None:
        super().__init__()
        self.code = code
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        canvas = self.canv
        module = self.size / self.code.size
        path = canvas.beginPath()
        for y, x, length in self.code.dark_runs():
            path.rect(x * module, self.size - (y + 1) * module, length * module, module)
        canvas.setFillColor(colors.black)
        canvas.drawPath(path, stroke=0, fill=1)


def _credit(document: InvoiceDocument, formats: DocumentFormats) -> list[Flowable]:
    """A credit note's own block: the invoice it corrects, why, and that nothing is to be paid
    (no bank account, no reference, no QR code: those would invite a payment)."""
    assert document.corrects is not None
    language = document.language
    rows = [
        label("corrects_invoice", language).format(
            number=document.corrects.number, date=formats.date(document.corrects.issue_date)
        )
    ]
    if document.credit_reason:
        rows.append(f"{label('credit_reason', language)}: {document.credit_reason}")
    rows.append(payment_request(document))
    return [_text(label("credit_note", language).upper(), "heading"), _text("\n".join(rows))]


def _payment(document: InvoiceDocument, formats: DocumentFormats) -> list[Flowable]:
    """How to pay: the sentence, the bank account, the reference, and the EPC QR code beside them."""
    if document.is_credit_note:
        return _credit(document, formats)
    language = document.language
    payment = document.payment
    rows: list[str] = [payment_request(document)]
    if payment.iban:
        if payment.account_holder:
            rows.append(f"{label('account_holder', language)}: {payment.account_holder}")
        rows.append(f"IBAN: {iban_shown(payment.iban)}")
    if payment.bic:
        rows.append(f"BIC: {payment.bic}")
    rows.append(f"{label('reference', language)}: {payment.reference}")
    flowables: list[Flowable] = [_text(label("payment", language).upper(), "heading"), _text("\n".join(rows))]
    if document.invoice_url:
        url = escape(document.invoice_url, {'"': "&quot;"})
        flowables.append(
            Paragraph(
                f'{escape(label("view_online", language))}: <link href="{url}" color="#1f5fad">{url}</link>',
                STYLES["small"],
            )
        )
    code = epc_qr(document)
    if code is None:
        return flowables
    beside = [QrFlowable(code, QR_SIZE), _text(label("scan_to_pay", language), "small")]
    layout = Table([[flowables, beside]], colWidths=[CONTENT_WIDTH - QR_SIZE - 6 * mm, QR_SIZE + 6 * mm])
    layout.setStyle(TableStyle([*BASE_TABLE_STYLE, *FLUSH_OUTER_EDGES]))
    return [layout]


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The invoice as an A4 PDF in the document's language and locale; one page or as many as the lines need."""
    register_fonts()
    formats = DocumentFormats(locale=document.locale, currency=document.currency)
    language = document.language
    buffer = io.BytesIO()
    # A frame without padding, so paragraphs and full-width tables share one left edge.
    frame = Frame(MARGIN, BOTTOM_MARGIN, CONTENT_WIDTH, PAGE_HEIGHT - MARGIN - BOTTOM_MARGIN, 0, 0, 0, 0)
    template = BaseDocTemplate(
        buffer,
        pagesize=A4,
        pageTemplates=[PageTemplate(id="invoice", frames=[frame])],
        title=f"{label(_title_key(document), language)} {document.number}",
        author=document.seller.name,
        subject=f"{label(_title_key(document), language)} {document.number} — {document.buyer.name}",
        creator="invoicebot",
        initialFontName=REGULAR,
    )
    story: list[Flowable] = [
        _header(document, formats),
        Spacer(1, 9 * mm),
        *_party_block(
            document.buyer, formats, language=language, heading=label("bill_to", language), name_style="party"
        ),
        Spacer(1, 7 * mm),
        _lines_table(document, formats),
        Spacer(1, 5 * mm),
        KeepTogether([_summary(document, formats)]),
        Spacer(1, 7 * mm),
        KeepTogether(_payment(document, formats)),
    ]
    if document.notes:
        story += [
            Spacer(1, 5 * mm),
            KeepTogether([_text(label("notes", language).upper(), "heading"), _text(document.notes)]),
        ]
    footer_left = f"{document.seller.name} · {label(_title_key(document), language)} {document.number}"
    canvasmaker: Callable[..., Canvas] = partial(
        NumberedCanvas,
        footer_left=footer_left,
        page_label=label("page", language),
        font=REGULAR,
        color=MUTED,
        rule_color=RULE,
        margin=MARGIN,
    )
    template.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def invoice_pdf_attachment(document: InvoiceDocument) -> Attachment:
    """The invoice's PDF as an email attaches it (`NUMBER.pdf`): the invoice email and its reminders alike."""
    return Attachment(f"{document.number}.pdf", render_invoice_pdf(document), "application/pdf")
