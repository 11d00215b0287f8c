"""How many invoice PDFs one process renders per second, for 10-, 20- and 30-line invoices.

Baseline, measured in the same run: the same words drawn straight onto a reportlab canvas
in the same embedded font, with no layout at all; it is the floor that font embedding
and PDF writing alone cost. The ratio says what the invoice layout adds on top. The UBL
rendering of the same invoices is printed alongside.

    .venv/bin/python benchmarks/render_pdf.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from services.documents.model import (
    DocumentFacts,
    InvoiceDocument,
    LineInput,
    PartyData,
    PaymentData,
    build_invoice_document,
)
from services.documents.pdf import BOLD, REGULAR, register_fonts, render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.postal_address import PostalAddress


def sample(lines: int) -> InvoiceDocument:
    return build_invoice_document(
        DocumentFacts(
            number="INV-2026-0042",
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 10, 31),
            currency="EUR",
            language="fr",
            seller=PartyData(
                "Example Trading Ltd",
                PostalAddress("1 Example Street", city="London", postal_code="EC1A 1BB", country="GB"),
                "GB123456789",
            ),
            buyer=PartyData(
                "Παπαδόπουλος Α.Ε.",
                PostalAddress("Οδός Ερμού 12", city="Αθήνα", postal_code="105 63", country="GR"),
                "EL123456789",
            ),
            lines=[
                LineInput(
                    f"Prestation n° {n}: support et maintenance", Decimal(n % 4 + 1), Decimal("42.50"), Decimal(20)
                )
                for n in range(1, lines + 1)
            ],
            payment=PaymentData("INV-2026-0042", "GB33BUKB20201555555555", "BUKBGB22"),
            invoice_url="http://localhost:3000/i/token",
        )
    )


def bare_canvas(document: InvoiceDocument) -> bytes:
    """The baseline: every line's words on one page in the embedded font, no layout."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, initialFontName=REGULAR)  # type: ignore[arg-type]  # stubs say float; a font name
    canvas.setFont(BOLD, 14)
    canvas.drawString(50, 800, document.seller.name)
    canvas.setFont(REGULAR, 8)
    y = 770.0
    for line in document.lines:
        canvas.drawString(50, y, f"{line.position} {line.description} {line.quantity} {line.unit_price}")
        canvas.drawRightString(545, y, str(line.net_amount))
        y -= 12
    canvas.drawRightString(545, y - 12, str(document.total))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def rate(render: Callable[[InvoiceDocument], bytes], document: InvoiceDocument, seconds: float) -> float:
    """Renders per second, the best of five rounds: other processes on the machine only slow a round down."""
    render(document)  # warm-up: font parsing, caches
    best = 0.0
    for _ in range(5):
        count, started = 0, time.perf_counter()
        deadline = started + seconds / 5
        while time.perf_counter() < deadline and count < 100_000:
            render(document)
            count += 1
        best = max(best, count / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each measurement")
    seconds = parser.parse_args().seconds
    register_fonts()
    print(f"{'lines':>5} {'baseline canvas/s':>18} {'invoice PDF/s':>14} {'ms/PDF':>7} {'ratio':>6} {'UBL/s':>7}")
    for lines in (10, 20, 30):
        document = sample(lines)
        baseline = rate(bare_canvas, document, seconds)
        pdfs = rate(render_invoice_pdf, document, seconds)
        ubls = rate(render_invoice_ubl, document, seconds)
        print(f"{lines:>5} {baseline:>18.0f} {pdfs:>14.0f} {1000 / pdfs:>7.1f} {pdfs / baseline:>6.2f} {ubls:>7.0f}")


if __name__ == "__main__":
    main()
