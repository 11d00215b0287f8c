"""The invoice as a UBL 2.1 Invoice following Peppol BIS Billing 3.0 (EN 16931); a credit note
as a UBL 2.1 CreditNote (type 381) of the same profile, naming the invoice it corrects in its
BillingReference and asking for no payment (no payment means, no due date).

Customers' accounting systems read this instead of the PDF, so its amounts must agree
with the PDF to the cent: both come from the same `InvoiceDocument`. Every amount is
written with the currency's decimals (JPY 0, EUR 2), tax categories are S (standard
rate), Z (zero rate) or E (exempt, with its reason).

Addresses are stored in parts (`services.postal_address`), each written to its own
element: street, additional street, city, postal zone, country subentity, country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from services.documents.formats import payment_request
from services.documents.model import EXEMPT, InvoiceDocument, PartyData
from services.errors import InvalidInput
from services.money import round_money

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
INVOICE_TYPE_COMMERCIAL = "380"
CREDIT_NOTE_TYPE = "381"
PAYMENT_MEANS_CREDIT_TRANSFER = "30"
UNIT_ONE = "C62"  # UN/ECE Recommendation 20: "one", the unit of a plain count
ELECTRONIC_MAIL_SCHEME = "EM"  # Peppol EAS code for an email endpoint

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


# Characters XML 1.0 cannot hold at all (C0 controls but tab/newline/return, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# What needs more than copying: markup characters, and the ones above (most values have neither).
_NEEDS_CARE = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


class _Xml:
    """An indented XML writer for this one document shape.

    Written out as text rather than built as an lxml tree: the tree cost 0.7 ms per
    invoice in the send path, several times the text. Every value is escaped here (`_cbc`),
    and a value XML cannot hold (a control character pasted into a description) is refused
    with a sentence instead of producing a file no reader accepts. The output is checked
    against the UBL XSD and the EN 16931 schematron in the tests.
    """

    def __init__(self) -> None:
        self.parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
        self.indent = "\n"

    def open(self, tag: str, attributes: str = "") -> None:
        self.parts.append(f"{self.indent}<{tag}{attributes}>")
        self.indent += "  "

    def close(self, tag: str) -> None:
        self.indent = self.indent[:-2]
        self.parts.append(f"{self.indent}</{tag}>")

    def bytes(self) -> bytes:
        return ("".join(self.parts) + "\n").encode("utf-8")


def _xml_text(value: str) -> str:
    """`value` escaped for element text and double-quoted attributes."""
    if _NEEDS_CARE.search(value) is None:
        return value
    if _NOT_XML.search(value):
        raise InvalidInput(
            f"{value[:60]!r} contains a control character that an e-invoice (UBL XML) cannot hold. "
            "Remove it from the invoice, or send the PDF only."
        )
    return escape(value, {'"': "&quot;"})


def _cbc(xml: _Xml, name: str, text: str, **attributes: str) -> None:
    """A `cbc:` element with text (a basic component): the leaves of the document."""
    attrs = "".join(f' {key}="{_xml_text(value)}"' for key, value in attributes.items()) if attributes else ""
    xml.parts.append(f"{xml.indent}<cbc:{name}{attrs}>{_xml_text(text)}</cbc:{name}>")


def _decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: 20, 5.5, 0.125 (never 2E+1)."""
    normalised = value.normalize()
    return f"{normalised:f}"


class _Amounts:
    def __init__(self, currency: str) -> None:
        self.currency = currency

    def add(self, xml: _Xml, name: str, amount: Decimal) -> None:
        _cbc(xml, name, f"{round_money(amount, self.currency):f}", currencyID=self.currency)


def _require_country(party: PartyData, role: str) -> str:
    if not party.country:
        raise InvalidInput(
            f"The {role} {party.name} has no country, which an e-invoice (UBL) must state. "
            f"Add the country, or send the PDF only."
        )
    return party.country.upper()


def _is_vat_number(tax_id: str) -> bool:
    """EN 16931 (BR-CO-09) wants VAT numbers prefixed by a country code, e.g. GB123456789."""
    return len(tax_id) > 2 and tax_id[:2].isalpha() and tax_id[:2].isupper()


def _postal_address(xml: _Xml, party: PartyData, country: str) -> None:
    """The address's parts in the order the UBL schema fixes (empty parts left out)."""
    address = party.address
    xml.open("cac:PostalAddress")
    for tag, value in (
        ("StreetName", address.street),
        ("AdditionalStreetName", address.additional),
        ("CityName", address.city),
        ("PostalZone", address.postal_code),
        ("CountrySubentity", address.subdivision),
    ):
        if value:
            _cbc(xml, tag, value)
    xml.open("cac:Country")
    _cbc(xml, "IdentificationCode", country)
    xml.close("cac:Country")
    xml.close("cac:PostalAddress")


def _tax_scheme(xml: _Xml, scheme: str) -> None:
    xml.open("cac:TaxScheme")
    _cbc(xml, "ID", scheme)
    xml.close("cac:TaxScheme")


def _party(xml: _Xml, wrapper: str, party: PartyData, *, role: str, is_seller: bool) -> None:
    country = _require_country(party, role)
    xml.open(wrapper)
    xml.open("cac:Party")
    tax_id = (party.tax_id or "").replace(" ", "")
    if party.email:
        _cbc(xml, "EndpointID", party.email, schemeID=ELECTRONIC_MAIL_SCHEME)
    if tax_id and is_seller and not _is_vat_number(tax_id):
        # Without a VAT number the buyer identifies the seller by this number (BR-CO-26).
        xml.open("cac:PartyIdentification")
        _cbc(xml, "ID", tax_id)
        xml.close("cac:PartyIdentification")
    xml.open("cac:PartyName")
    _cbc(xml, "Name", party.name)
    xml.close("cac:PartyName")
    _postal_address(xml, party, country)
    legal_id = None
    if tax_id and (_is_vat_number(tax_id) or is_seller):
        # A VAT number; or a seller's tax number that is not one: its tax registration (BT-32).
        xml.open("cac:PartyTaxScheme")
        _cbc(xml, "CompanyID", tax_id)
        _tax_scheme(xml, "VAT" if _is_vat_number(tax_id) else "TAX")
        xml.close("cac:PartyTaxScheme")
    elif tax_id:
        legal_id = tax_id  # a buyer's non-VAT number is its legal registration (BT-47)
    xml.open("cac:PartyLegalEntity")
    _cbc(xml, "RegistrationName", party.name)
    if legal_id:
        _cbc(xml, "CompanyID", legal_id)
    xml.close("cac:PartyLegalEntity")
    if party.email:
        xml.open("cac:Contact")
        _cbc(xml, "ElectronicMail", party.email)
        xml.close("cac:Contact")
    xml.close("cac:Party")
    xml.close(wrapper)


def _tax_category(xml: _Xml, tag: str, category: str, rate: Decimal, reason: str | None) -> None:
    xml.open(tag)
    _cbc(xml, "ID", category)
    _cbc(xml, "Percent", _decimal(rate))
    if reason:
        _cbc(xml, "TaxExemptionReason", reason)
    _tax_scheme(xml, "VAT")
    xml.close(tag)


@dataclass(frozen=True)
class _Shape:
    """The element names that differ between a UBL Invoice and a UBL CreditNote."""

    root: str
    namespace: str
    type_code_tag: str
    type_code: str
    line_tag: str
    quantity_tag: str


_INVOICE = _Shape(
    "Invoice", NS_INVOICE, "InvoiceTypeCode", INVOICE_TYPE_COMMERCIAL, "cac:InvoiceLine", "InvoicedQuantity"
)
_CREDIT_NOTE = _Shape(
    "CreditNote", NS_CREDIT_NOTE, "CreditNoteTypeCode", CREDIT_NOTE_TYPE, "cac:CreditNoteLine", "CreditedQuantity"
)


def _payment_means(xml: _Xml, document: InvoiceDocument) -> None:
    """BG-16: the account to pay into; a credit note asks for no transfer."""
    if not document.payment.iban or document.corrects is not None:
        return
    xml.open("cac:PaymentMeans")
    _cbc(xml, "PaymentMeansCode", PAYMENT_MEANS_CREDIT_TRANSFER)
    # BT-83: the reference as a bank passes it on (no spaces); BT-85: the account holder.
    _cbc(xml, "PaymentID", "".join(document.payment.reference.split()))
    xml.open("cac:PayeeFinancialAccount")
    _cbc(xml, "ID", document.payment.iban.replace(" ", ""))
    _cbc(xml, "Name", document.payment.account_holder or document.seller.name)
    if document.payment.bic:
        xml.open("cac:FinancialInstitutionBranch")
        _cbc(xml, "ID", document.payment.bic)
        xml.close("cac:FinancialInstitutionBranch")
    xml.close("cac:PayeeFinancialAccount")
    xml.close("cac:PaymentMeans")


def _monetary_total(xml: _Xml, amounts: _Amounts, document: InvoiceDocument) -> None:
    """BG-22. What was paid or credited (credit notes) before this file counts as prepaid, so the
    payable amount is the balance (BR-CO-16: payable = total with VAT - prepaid)."""
    xml.open("cac:LegalMonetaryTotal")
    amounts.add(xml, "LineExtensionAmount", document.subtotal)
    amounts.add(xml, "TaxExclusiveAmount", document.subtotal)
    amounts.add(xml, "TaxInclusiveAmount", document.total)
    if document.paid or document.credited:
        amounts.add(xml, "PrepaidAmount", document.paid + document.credited)
    amounts.add(xml, "PayableAmount", document.balance_due)
    xml.close("cac:LegalMonetaryTotal")


def render_invoice_ubl(document: InvoiceDocument) -> bytes:
    """UBL 2.1 XML bytes (UTF-8, with declaration). Raises `InvalidInput` when a required fact is missing."""
    amounts = _Amounts(document.currency)
    shape = _CREDIT_NOTE if document.corrects is not None else _INVOICE
    xml = _Xml()
    xml.open(shape.root, f' xmlns="{shape.namespace}" xmlns:cac="{NS_CAC}" xmlns:cbc="{NS_CBC}"')
    _cbc(xml, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(xml, "ProfileID", PROFILE_ID)
    _cbc(xml, "ID", document.number)
    _cbc(xml, "IssueDate", document.issue_date.isoformat())
    if document.corrects is None:  # UBL 2.1's CreditNote has no DueDate: nothing falls due
        _cbc(xml, "DueDate", document.due_date.isoformat())
    _cbc(xml, shape.type_code_tag, shape.type_code)
    for note in (document.credit_reason, document.notes):
        if note:
            _cbc(xml, "Note", note)
    _cbc(xml, "DocumentCurrencyCode", document.currency)
    # Peppol asks for a buyer reference or an order reference (PEPPOL-EN16931-R003).
    _cbc(xml, "BuyerReference", document.buyer_reference or document.number)
    if document.purchase_order:
        xml.open("cac:OrderReference")
        _cbc(xml, "ID", document.purchase_order)
        xml.close("cac:OrderReference")
    if document.corrects is not None:  # BG-3: the invoice this credit note corrects
        xml.open("cac:BillingReference")
        xml.open("cac:InvoiceDocumentReference")
        _cbc(xml, "ID", document.corrects.number)
        _cbc(xml, "IssueDate", document.corrects.issue_date.isoformat())
        xml.close("cac:InvoiceDocumentReference")
        xml.close("cac:BillingReference")
    _party(xml, "cac:AccountingSupplierParty", document.seller, role="seller", is_seller=True)
    _party(xml, "cac:AccountingCustomerParty", document.buyer, role="customer", is_seller=False)

    _payment_means(xml, document)

    # BT-20 payment terms, in the document's language: the one human sentence of the file.
    xml.open("cac:PaymentTerms")
    _cbc(xml, "Note", payment_request(document))
    xml.close("cac:PaymentTerms")

    xml.open("cac:TaxTotal")
    amounts.add(xml, "TaxAmount", document.tax_total)
    for tax in document.taxes:
        xml.open("cac:TaxSubtotal")
        amounts.add(xml, "TaxableAmount", tax.taxable)
        amounts.add(xml, "TaxAmount", tax.tax)
        reason = tax.exemption_reason if tax.category == EXEMPT else None
        _tax_category(xml, "cac:TaxCategory", tax.category, tax.rate, reason)
        xml.close("cac:TaxSubtotal")
    xml.close("cac:TaxTotal")

    _monetary_total(xml, amounts, document)

    for line in document.lines:
        xml.open(shape.line_tag)
        _cbc(xml, "ID", str(line.position))
        _cbc(xml, shape.quantity_tag, _decimal(line.quantity), unitCode=UNIT_ONE)
        amounts.add(xml, "LineExtensionAmount", line.net_amount)
        xml.open("cac:Item")
        _cbc(xml, "Name", line.description)
        _tax_category(xml, "cac:ClassifiedTaxCategory", line.tax_category, line.tax_rate, None)
        xml.close("cac:Item")
        xml.open("cac:Price")
        _cbc(xml, "PriceAmount", _decimal(line.unit_price), currencyID=document.currency)
        xml.close("cac:Price")
        xml.close(shape.line_tag)
    xml.close(shape.root)
    return xml.bytes()
