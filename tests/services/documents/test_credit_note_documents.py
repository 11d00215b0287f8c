"""A credit note's documents: a PDF titled as a credit note in the customer's language, naming the
invoice it corrects and asking for no payment; a UBL 2.1 CreditNote (381) that passes the same
checks as invoices (the UBL 2.1 CreditNote XSD and the EN 16931 schematron)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from lxml import etree
from pypdf import PdfReader

from services.documents.model import CorrectedInvoice, InvoiceDocument
from services.documents.page import PaymentState, PaymentStateKind, render_invoice_page
from services.documents.payment_qr import epc_payload
from services.documents.pdf import render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.documents.validation import check_ubl_documents, schematron_available, validate_ubl_xsd
from tests.harness import documents as samples

NS = {
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def credit_note(language: str = "en") -> InvoiceDocument:
    return samples.document(
        number="CN-2026-0007",
        language=language,
        lines=[samples.line("Discount on consulting, October", "1", "30.00", "20")],
        corrects=CorrectedInvoice("INV-2026-0042", date(2026, 10, 1)),
        credit_reason="Agreed discount",
    )


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(
        " ".join(page.extract_text().replace("\u202f", " ").replace("\xa0", " ").split()) for page in reader.pages
    )


def test_an_english_credit_note_pdf_is_titled_as_one_names_its_invoice_and_asks_for_no_payment() -> None:
    text = _text(render_invoice_pdf(credit_note("en")))

    assert "CREDIT NOTE" in text and "Credit note number CN-2026-0007" in text
    assert "Corrects invoice INV-2026-0042 of 1 October 2026" in text
    assert "Reason: Agreed discount" in text
    assert "nothing is to be paid" in text and "€36.00" in text
    assert "Total credited €36.00" in text
    for invoice_only in ("INVOICE", "Due date", "Total due", "Please pay", "IBAN", "Scan to pay"):
        assert invoice_only not in text


def test_a_german_credit_note_pdf_speaks_german() -> None:
    text = _text(render_invoice_pdf(credit_note("de")))

    assert "GUTSCHRIFT" in text and "Gutschriftsnummer CN-2026-0007" in text
    assert "Korrigiert die Rechnung INV-2026-0042 vom 1. Oktober 2026" in text
    assert "Grund: Agreed discount" in text and "es ist nichts zu zahlen" in text
    assert "RECHNUNG" not in text.replace("RECHNUNGSEMPFÄNGER", "")


def test_a_credit_note_has_no_payment_qr_code() -> None:
    assert epc_payload(credit_note()) is None


def test_a_credit_note_ubl_is_a_peppol_credit_note_referencing_its_invoice_and_passes_the_schema() -> None:
    xml = render_invoice_ubl(credit_note())
    root = etree.fromstring(xml)

    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    reference = "cac:BillingReference/cac:InvoiceDocumentReference"
    assert root.findtext(f"{reference}/cbc:ID", namespaces=NS) == "INV-2026-0042"
    assert root.findtext(f"{reference}/cbc:IssueDate", namespaces=NS) == "2026-10-01"
    assert root.findtext("cac:CreditNoteLine/cbc:CreditedQuantity", namespaces=NS) == "1"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "36.00"
    assert root.find("cac:PaymentMeans", NS) is None and root.find("cbc:DueDate", NS) is None
    assert validate_ubl_xsd(xml) == []


@pytest.mark.skipif(not schematron_available(), reason="saxonche is not installed")
def test_a_credit_note_ubl_passes_the_same_pre_send_validation_as_invoices() -> None:
    verdicts = check_ubl_documents([render_invoice_ubl(credit_note("en")), render_invoice_ubl(credit_note("fr"))])

    assert [(verdict.ok, verdict.failures) for verdict in verdicts] == [(True, ()), (True, ())]


def test_a_credit_notes_link_page_is_titled_as_one_names_its_invoice_and_asks_for_no_payment() -> None:
    overdue = PaymentState(PaymentStateKind.OVERDUE, "Überfällig")  # what its due date alone would say
    html = render_invoice_page(credit_note("de"), state=overdue, pdf_url="/i/t/pdf", ubl_url="/i/t/ubl")

    assert "<h1>Gutschrift CN-2026-0007</h1>" in html
    assert "Korrigiert die Rechnung INV-2026-0042 vom 1. Oktober 2026" in html
    assert "status-credit" in html and "Überfällig" not in html
    assert "Gutgeschriebener Betrag" in html and "es ist nichts zu zahlen" in html
    for invoice_only in ("Fällig am", "IBAN", "data:image/svg"):
        assert invoice_only not in html
