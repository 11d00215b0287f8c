"""The invoice PDF as a reader (and a PDF viewer) sees it: pages, fonts, words, numbers."""

from __future__ import annotations

import io
import pickle
from decimal import Decimal
from typing import cast

from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from services.documents.pdf import render_invoice_pdf
from services.formatting import format_money
from tests.harness import documents as samples


def _pages_text(pdf: bytes) -> list[str]:
    """Each page's text with every kind of space made plain, as a reader would copy it."""
    reader = PdfReader(io.BytesIO(pdf))
    return [" ".join(page.extract_text().replace("\u202f", " ").replace("\xa0", " ").split()) for page in reader.pages]


def _font_names(pdf: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(pdf))
    names: set[str] = set()
    for page in reader.pages:
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        for font in cast(DictionaryObject, resources["/Font"].get_object()).values():
            font = font.get_object()
            assert "/FontFile2" in font["/FontDescriptor"], f"{font['/BaseFont']} is not embedded"
            names.add(str(font["/BaseFont"]).split("+", 1)[-1])
    return names


def _plain(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def test_invoice_pdf_is_a_one_page_pdf_for_a_short_invoice() -> None:
    pdf = render_invoice_pdf(samples.document())

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(_pages_text(pdf)) == 1


def test_invoice_pdf_embeds_dejavu_and_references_no_helvetica() -> None:
    pdf = render_invoice_pdf(samples.long_document(count=30))

    assert _font_names(pdf) == {"DejaVuSans", "DejaVuSans-Bold"}
    assert b"Helvetica" not in pdf


def test_invoice_pdf_shows_parties_numbers_and_totals() -> None:
    doc = samples.document(
        lines=[samples.line("Consulting", "3", "150.00", "20"), samples.line("Books", "2", "12.50", "5.5")],
        purchase_order="PO-991",
    )

    (text,) = _pages_text(render_invoice_pdf(doc))

    for expected in (
        "Example Trading Ltd",
        "Acme SARL",
        "12 rue de la Paix",
        "France",
        "VAT number: FR12345678901",
        "INV-2026-0042",
        "1 October 2026",  # the seller is in GB: en_GB
        "PO-991",
        "Consulting",
        "€150.00",
        "€450.00",
        "5.5%",
        "Subtotal €475.00",
        "Total VAT €91.38",
        "Total due €566.38",
        "IBAN: GB33 BUKB 2020 1555 5555 55",  # in blocks of four, as people type it
        "BIC: BUKBGB22",
        "Payment reference: INV-2026-0042",
        "http://localhost:3000/i/token",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert doc.total == Decimal("566.38")


def test_long_invoice_flows_over_pages_repeating_the_table_header_and_numbering_pages() -> None:
    doc = samples.long_document(count=80)

    pages = _pages_text(render_invoice_pdf(doc))

    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        if "Item " in text:  # the payment block (with its QR code) may start a page of its own
            assert "# Description Qty Unit price VAT Amount" in text, f"no table header on page {number}"
        assert f"Page {number} of {len(pages)}" in text
    every_item = " ".join(pages)
    for item in range(1, 81):
        assert every_item.count(f"Item {item:03d}:") == 1
    total = f"Total due {_plain(format_money(doc.total, 'EUR', doc.locale))}"
    assert every_item.count(total) == 1
    assert every_item.index("Item 080:") < every_item.index(total) < every_item.index("PAYMENT DETAILS")


def test_greek_cyrillic_and_accented_names_print_as_written() -> None:
    names = ["Παπαδόπουλος Α.Ε.", "ООО «Ромашка»", "Société Générale d'Électricité", "Müller & Söhne GmbH"]
    doc = samples.document(
        buyer=samples.GREEK_BUYER,
        lines=[samples.line(name, "1", "10.00", "20") for name in names[1:]],
    )

    (text,) = _pages_text(render_invoice_pdf(doc))

    for name in [*names, "Οδός Ερμού 12", "105 63 Αθήνα"]:
        assert name in text


def test_cyrillic_customer_gets_a_valid_pdf_in_english_with_country_name() -> None:
    (text,) = _pages_text(render_invoice_pdf(samples.document(buyer=samples.CYRILLIC_BUYER)))

    assert "ООО «Ромашка» ул. Тверская, 7 125009 Москва Russia" in text


def test_labels_money_and_dates_follow_the_customer_language() -> None:
    doc = samples.document(lines=[samples.line("Beratung", "10", "123.45", "19")], language="de")

    (text,) = _pages_text(render_invoice_pdf(doc))

    for expected in ("RECHNUNG", "Rechnungsnummer", "1. Oktober 2026", "Einzelpreis", "1.234,50 €", "Seite 1 von 1"):
        assert expected in text, expected


def test_french_invoice_speaks_french() -> None:
    (text,) = _pages_text(render_invoice_pdf(samples.document(language="fr")))

    for expected in ("FACTURE", "FACTURÉ À", "Date d'échéance", "31 octobre 2026", "Total TTC à payer", "Page 1 sur 1"):
        assert expected in text, expected


def test_unknown_language_falls_back_to_english() -> None:
    (text,) = _pages_text(render_invoice_pdf(samples.document(language="pt-BR")))

    assert "INVOICE" in text
    assert "Page 1 of 1" in text


def test_yen_amounts_print_without_decimals() -> None:
    doc = samples.document(currency="JPY", lines=[samples.line("Licence", "3", "12345", "10")])

    (text,) = _pages_text(render_invoice_pdf(doc))

    assert "Total due JP¥40,739" in text  # en_GB (a UK seller) writes yen so, without decimals


def test_document_survives_pickling_for_a_process_pool() -> None:
    doc = samples.long_document(count=12, language="it")

    copy = pickle.loads(pickle.dumps(doc))  # noqa: S301 - our own bytes, as a process pool passes them

    assert copy == doc
    assert _pages_text(render_invoice_pdf(copy)) == _pages_text(render_invoice_pdf(doc))


def test_invoice_pdf_prints_each_address_in_its_countrys_order_and_the_country_in_the_readers_words() -> None:
    (english,) = _pages_text(render_invoice_pdf(samples.document()))
    (german,) = _pages_text(render_invoice_pdf(samples.document(language="de")))

    assert "1 Example Street London EC1A 1BB United Kingdom" in english  # the UK: postcode after the town
    assert "12 rue de la Paix 75002 Paris France" in english  # France: postcode first
    assert "12 rue de la Paix 75002 Paris Frankreich" in german
    assert "1 Example Street London EC1A 1BB Vereinigtes Königreich" in german
