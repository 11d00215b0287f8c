"""The EPC QR code on the invoice PDF: rendered to PNG by poppler's `pdftoppm` and DECODED by zxing-cpp,
so the test reads what a banking app reads (holder, IBAN, BIC, amount, reference), not our own payload."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import zxingcpp
from markupsafe import escape
from PIL import Image

from services.documents.model import InvoiceDocument, PaymentData
from services.documents.page import PaymentState, PaymentStateKind, render_invoice_page
from services.documents.payment_qr import epc_qr, epc_qr_data_uri
from services.documents.pdf import render_invoice_pdf
from services.invoicing.payment_reference import belgian_reference, creditor_reference
from tests.harness import documents as samples

BANK = PaymentData(
    reference=creditor_reference(42), iban="BE71096123456769", bic="GKCCBEBB", account_holder="Example Treasury BV"
)


def _qr_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    """Every QR code zxing finds on the PDF's first page, rendered at 150 dpi like a print scan."""
    (tmp_path / "invoice.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-singlefile", "invoice.pdf", "page"], cwd=tmp_path, check=True, timeout=60
    )
    with Image.open(tmp_path / "page.png") as image:
        return [found.text for found in zxingcpp.read_barcodes(image) if found.format == zxingcpp.BarcodeFormat.QRCode]


def test_a_eur_invoice_pdf_carries_an_epc_qr_code_a_decoder_reads(tmp_path: Path) -> None:
    doc = samples.document(
        lines=[samples.line("Consulting", "3", "150.00", "20"), samples.line("Books", "2", "12.50", "5.5")],
        payment=BANK,
    )

    (text,) = _qr_texts(render_invoice_pdf(doc), tmp_path)

    fields = text.split("\n")
    assert fields[:4] == ["BCD", "002", fields[2], "SCT"]  # service tag, version 002, encoding, SEPA credit transfer
    assert fields[4:7] == ["GKCCBEBB", "Example Treasury BV", "BE71096123456769"]
    assert Decimal(fields[7].removeprefix("EUR")) == doc.total == Decimal("566.38")
    assert "RF3400000042" in fields[8:]  # the structured creditor reference, compact


def test_a_belgian_reference_travels_as_the_transfers_message(tmp_path: Path) -> None:
    reference = belgian_reference(42)
    doc = samples.document(payment=PaymentData(reference=reference, iban="BE71096123456769"))

    (text,) = _qr_texts(render_invoice_pdf(doc), tmp_path)

    assert text.split("\n")[-1] == "+++000/0000/04242+++"
    assert "BE71096123456769" in text.split("\n")


def test_no_qr_code_for_another_currency_or_without_an_iban(tmp_path: Path) -> None:
    pound = samples.document(currency="GBP", payment=BANK)
    no_account = samples.document(payment=PaymentData(reference=creditor_reference(42)))

    assert epc_qr(pound) is None and epc_qr(no_account) is None
    assert _qr_texts(render_invoice_pdf(pound), tmp_path) == []


def _page(doc: InvoiceDocument) -> str:
    state = PaymentState(PaymentStateKind.DUE, "Due in 3 days")
    return render_invoice_page(doc, state=state, pdf_url="/i/t/pdf", ubl_url="/i/t/ubl")


def test_the_link_page_shows_the_account_the_reference_and_the_same_qr_code() -> None:
    doc = samples.document(payment=BANK)

    page = _page(doc)

    assert "BE71 0961 2345 6769" in page
    assert "Example Treasury BV" in page
    assert "RF34 0000 0042" in page
    uri = epc_qr_data_uri(doc)
    assert uri is not None and uri.startswith("data:image/svg+xml")
    assert f'src="{escape(uri)}"' in page  # the very code the PDF carries (one builder, epc_qr)
    assert "data:image/svg+xml" not in _page(samples.document(currency="GBP", payment=BANK))
