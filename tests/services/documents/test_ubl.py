"""The UBL e-invoice, checked offline against the official UBL 2.1 XSD and the EN 16931 schematron."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from lxml import etree

from services.documents.model import InvoiceDocument, PartyData, PaymentData
from services.documents.ubl import render_invoice_ubl
from services.documents.validation import (
    SchematronFailure,
    UblVerdict,
    check_ubl_documents,
    check_ubl_schematron,
    rule_in_words,
    schematron_available,
    validate_ubl_schematron,
    validate_ubl_xsd,
)
from services.errors import InvalidInput
from services.invoicing.payment_reference import belgian_reference, creditor_reference
from services.postal_address import PostalAddress
from tests.harness import documents as samples

needs_saxon = pytest.mark.skipif(
    not schematron_available(), reason="saxonche is not installed, so the EN 16931 schematron cannot run"
)

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

CASES = {
    "one line": samples.document(),
    "three rates": samples.document(
        lines=[
            samples.line("Consulting", "3", "150.00", "20"),
            samples.line("Books", "7", "12.99", "5.5"),
            samples.line("Export freight", "1", "80.00", "0"),
            samples.line("Travel", "2.5", "33.333", "20"),
        ]
    ),
    "yen": samples.document(currency="JPY", lines=[samples.line("Licence", "3", "12345", "10")]),
    "customer without tax id": samples.document(
        buyer=dataclasses.replace(samples.BUYER, tax_id=None, email=None, address=PostalAddress(country="FR"))
    ),
    "exempt with reason": samples.document(
        lines=[samples.line("Medical training", "4", "250.00", "0")],
        exemption_reason="Exempt under Article 132(1)(i) of Council Directive 2006/112/EC",
    ),
    "long address, no bank account, greek customer": samples.document(
        buyer=dataclasses.replace(
            samples.GREEK_BUYER,
            address=PostalAddress(
                street="Οδός Ερμού 12",
                additional="Κτίριο Β, 3ος όροφος",
                city="Αθήνα",
                postal_code="105 63",
                subdivision="Αττική",
                country="GR",
            ),
        ),
        payment=dataclasses.replace(samples.document().payment, iban=None, bic=None),
        notes="Ευχαριστούμε!",
    ),
    "creditor reference and account holder": samples.document(
        payment=PaymentData(
            reference=creditor_reference(42), iban="DE89370400440532013000", account_holder="Example Treasury GmbH"
        )
    ),
    "belgian structured communication": samples.document(
        payment=PaymentData(reference=belgian_reference(42), iban="BE71096123456769", bic="GKCCBEBB")
    ),
}


def _child(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, namespaces=NS)
    assert found is not None, f"no {path}"
    return found


def _value(xml: bytes, path: str) -> str:
    value = etree.fromstring(xml).findtext(path, namespaces=NS)
    assert value is not None, f"no {path}"
    return value


@pytest.mark.parametrize("name", list(CASES))
def test_ubl_is_valid_against_the_ubl_2_1_schema(name: str) -> None:
    assert validate_ubl_xsd(render_invoice_ubl(CASES[name])) == []


@needs_saxon
@pytest.mark.parametrize("name", list(CASES))
def test_ubl_passes_every_en16931_rule_without_warnings(name: str) -> None:
    failures = check_ubl_schematron(render_invoice_ubl(CASES[name]))

    assert [str(failure) for failure in failures] == []


@needs_saxon
def test_a_wrong_total_is_caught_by_the_schematron() -> None:
    doc = CASES["three rates"]
    wrong = dataclasses.replace(doc, total=doc.total + Decimal("0.01"))

    failures = validate_ubl_schematron(render_invoice_ubl(wrong))

    assert any(failure.startswith("BR-CO-15:") for failure in failures), failures


@needs_saxon
def test_a_tax_amount_that_is_not_the_sum_of_its_rates_is_caught() -> None:
    doc = CASES["three rates"]
    wrong = dataclasses.replace(doc, tax_total=doc.tax_total + 1, total=doc.total + 1)

    failures = validate_ubl_schematron(render_invoice_ubl(wrong))

    assert any(failure.startswith("BR-CO-14:") for failure in failures), failures


def test_the_schema_check_reports_a_broken_document() -> None:
    root = etree.fromstring(render_invoice_ubl(CASES["one line"]))
    root.remove(_child(root, "cbc:IssueDate"))
    root.append(etree.Element("{urn:example}Unexpected"))

    problems = validate_ubl_xsd(etree.tostring(root))

    assert problems
    assert all(problem.startswith("line ") for problem in problems)
    assert validate_ubl_xsd(b"<Invoice") != []


def test_ubl_declares_peppol_bis_billing_3() -> None:
    xml = render_invoice_ubl(CASES["one line"])

    assert _value(xml, "cbc:CustomizationID") == (
        "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    )
    assert _value(xml, "cbc:ProfileID") == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


def test_ubl_amounts_agree_with_the_document_in_the_currency_decimals() -> None:
    doc: InvoiceDocument = CASES["three rates"]
    xml = render_invoice_ubl(doc)
    root = etree.fromstring(xml)

    assert _value(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount") == f"{doc.total:.2f}"
    assert _value(xml, "cac:TaxTotal/cbc:TaxAmount") == f"{doc.tax_total:.2f}"
    categories = [
        (
            sub.findtext("cac:TaxCategory/cbc:ID", namespaces=NS),
            sub.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS),
        )
        for sub in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)
    ]
    assert categories == [("Z", "0"), ("S", "5.5"), ("S", "20")]
    assert _value(xml, "cac:InvoiceLine[4]/cbc:LineExtensionAmount") == "83.33"
    assert _value(xml, "cac:InvoiceLine[4]/cac:Price/cbc:PriceAmount") == "33.333"


def test_yen_amounts_have_no_decimals() -> None:
    xml = render_invoice_ubl(CASES["yen"])

    assert _value(xml, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == "37035"
    assert _value(xml, "cac:TaxTotal/cbc:TaxAmount") == "3704"
    assert _value(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "40739"


def test_exempt_lines_carry_category_e_and_the_reason() -> None:
    xml = render_invoice_ubl(CASES["exempt with reason"])

    assert _value(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "E"
    assert "Article 132" in _value(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason")
    assert _value(xml, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID") == "E"


def test_non_vat_tax_numbers_are_registrations_not_vat_numbers() -> None:
    doc = samples.document(
        seller=dataclasses.replace(samples.SELLER, tax_id="12-3456789"),
        buyer=dataclasses.replace(samples.BUYER, tax_id="98-7654321"),
    )
    xml = render_invoice_ubl(doc)

    supplier = "cac:AccountingSupplierParty/cac:Party/"
    assert _value(xml, supplier + "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID") == "TAX"
    assert _value(xml, "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID") == "98-7654321"
    assert validate_ubl_xsd(xml) == []
    if schematron_available():
        assert validate_ubl_schematron(xml) == []


@needs_saxon
def test_a_seller_without_vat_number_cannot_charge_vat() -> None:
    doc = samples.document(seller=dataclasses.replace(samples.SELLER, tax_id=None))

    failures = validate_ubl_schematron(render_invoice_ubl(doc))

    assert any(failure.startswith("BR-S-02:") for failure in failures), failures


def test_a_customer_without_country_is_refused_with_a_sentence() -> None:
    doc = samples.document(buyer=PartyData(name="Nowhere Ltd"))

    with pytest.raises(InvalidInput, match="Nowhere Ltd has no country"):
        render_invoice_ubl(doc)


def test_markup_characters_in_names_and_notes_come_back_as_written() -> None:
    doc = samples.document(
        number='INV-<7> & "8"',
        notes="Tom & Jerry's <b>not bold</b>",
        buyer=dataclasses.replace(samples.BUYER, name='Müller & Söhne "GmbH" <Berlin>'),
    )

    xml = render_invoice_ubl(doc)

    assert validate_ubl_xsd(xml) == []
    assert _value(xml, "cbc:ID") == 'INV-<7> & "8"'
    assert _value(xml, "cbc:Note") == "Tom & Jerry's <b>not bold</b>"
    assert (
        _value(xml, "cac:AccountingCustomerParty/cac:Party/cac:PartyName/cbc:Name") == 'Müller & Söhne "GmbH" <Berlin>'
    )


def test_a_control_character_xml_cannot_hold_is_refused_with_a_sentence() -> None:
    doc = samples.document(lines=[samples.line("Consulting\x07 (bell pasted in)", "1", "100.00", "20")])

    with pytest.raises(InvalidInput, match="control character that an e-invoice"):
        render_invoice_ubl(doc)


def test_each_address_part_has_its_own_element_in_the_schemas_order() -> None:
    xml = render_invoice_ubl(CASES["long address, no bank account, greek customer"])

    address = _child(etree.fromstring(xml), "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress")
    parts = [(etree.QName(child).localname, (child.text or "").strip() or child[0].text) for child in address]
    assert parts == [
        ("StreetName", "Οδός Ερμού 12"),
        ("AdditionalStreetName", "Κτίριο Β, 3ος όροφος"),
        ("CityName", "Αθήνα"),
        ("PostalZone", "105 63"),
        ("CountrySubentity", "Αττική"),
        ("Country", "GR"),
    ]
    seller = "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cbc:"
    assert (_value(xml, seller + "CityName"), _value(xml, seller + "PostalZone")) == ("London", "EC1A 1BB")


@needs_saxon
def test_many_documents_are_checked_in_one_run_each_with_its_own_verdict_in_words() -> None:
    good = render_invoice_ubl(CASES["one line"])
    negative = samples.document(
        lines=[samples.line("Consulting", "1", "100.00", "20"), samples.line("Discount", "1", "-10.00", "20")]
    )
    broken = etree.fromstring(good)
    broken.remove(_child(broken, "cbc:IssueDate"))

    verdicts = check_ubl_documents([good, render_invoice_ubl(negative), etree.tostring(broken)])

    assert verdicts[0] == UblVerdict(ok=True, failures=())
    assert verdicts[1] == UblVerdict(ok=False, failures=("BR-27: The Item net price (BT-146) shall NOT be negative.",))
    assert not verdicts[2].ok and verdicts[2].failures[0].startswith("UBL 2.1 schema: line ")
    assert "IssueDate" in verdicts[2].failures[0]


def test_a_rule_in_words_names_its_rule_once_without_the_bracketed_prefix() -> None:
    failure = SchematronFailure(
        rule="BR-CO-15",
        flag="fatal",
        text="[BR-CO-15]-Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) "
        "+ Invoice total VAT amount (BT-110).",
        location="/",
    )

    assert rule_in_words(failure) == (
        "BR-CO-15: Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) "
        "+ Invoice total VAT amount (BT-110)."
    )


def test_payment_means_carry_the_compact_reference_the_account_and_its_holder() -> None:
    xml = render_invoice_ubl(CASES["creditor reference and account holder"])

    assert _value(xml, "cac:PaymentMeans/cbc:PaymentID") == "RF3400000042"
    assert _value(xml, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "DE89370400440532013000"
    assert _value(xml, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:Name") == "Example Treasury GmbH"
    belgian = render_invoice_ubl(CASES["belgian structured communication"])
    assert _value(belgian, "cac:PaymentMeans/cbc:PaymentID") == "+++000/0000/04242+++"
